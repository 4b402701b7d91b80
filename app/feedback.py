"""`python -m app.feedback ...`: kept for earlier set-ups; the command is `docs-qa feedback`
(accounts/feedback.py)."""

import sys

from accounts.feedback import main

if __name__ == "__main__":
    sys.exit(main())
