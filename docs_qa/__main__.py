"""`docs-qa ingest | ask | search | eval | app | api | mcp [ARGS]`: the front doors behind one
command.

Each subcommand is the module a developer can also run with `python -m` (`python -m ingest`,
`python -m retrieval.ask`, `python -m retrieval`, `python -m retrieval.eval`,
`python -m retrieval.api`, `python -m retrieval.mcp_server`), given the rest of the arguments;
`app` starts the Streamlit chat (`streamlit run app/main.py`).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USAGE = "usage: docs-qa {ingest,ask,search,eval,app,api,mcp} [ARGS...]  (docs-qa COMMAND --help)"
APP = Path(__file__).resolve().parent.parent / "app" / "main.py"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE + "\n\n" + (__doc__ or ""))
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "ingest":
        from ingest.__main__ import main as run
    elif command == "ask":
        from retrieval.ask import main as run
    elif command == "search":
        from retrieval.__main__ import main as run
    elif command == "eval":
        from retrieval.eval import main as run
    elif command == "api":
        from retrieval.api import main as run
    elif command == "mcp":
        from retrieval.mcp_server import main as run
    elif command == "app":
        return subprocess.call([sys.executable, "-m", "streamlit", "run", str(APP), *rest])
    else:
        print(f"docs-qa: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
