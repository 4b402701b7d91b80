"""`python -m app.users ...`: kept for earlier set-ups; the command is `docs-qa users`
(accounts/admin.py)."""

import sys

from accounts.admin import main

if __name__ == "__main__":
    sys.exit(main())
