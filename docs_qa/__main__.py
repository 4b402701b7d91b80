"""`docs-qa COMMAND [ARGS]`: the front doors behind one command.

Each command is a module a developer can also run with `python -m`, given the rest of the
arguments; `app` starts the Streamlit chat (`streamlit run app/main.py`).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

#: command -> (the module behind it, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest.__main__", "bring the index up to date with a docs folder (or --watch)"),
    "search": ("retrieval.__main__", "the top passages for a question"),
    "ask": ("retrieval.ask", "an answer with its sources, from the command line"),
    "app": ("", "the chat in the browser (Streamlit)"),
    "api": ("server.api", "the OpenAI-compatible HTTP API"),
    "mcp": ("server.mcp", "the MCP server (stdio or --http)"),
    "users": ("accounts.admin", "the users file: add, passwd, remove, list, keys"),
    "feedback": ("accounts.feedback", "eval questions from thumbs-down; the doc-gap report"),
    "eval": ("evaluation.__main__", "retrieval quality on every dev set"),
    "model": ("docs_qa.model", "serve a local model for written answers (no GPU, no key)"),
}
APP = Path(__file__).resolve().parent.parent / "app" / "main.py"
USAGE = "usage: docs-qa {" + ",".join(COMMANDS) + "} [ARGS...]  (docs-qa COMMAND --help)"


def _help() -> str:
    rows = []
    for name, (module, about) in COMMANDS.items():
        where = f"python -m {module.removesuffix('.__main__')}" if module else "streamlit"
        rows.append(f"  {name:<9} {about}  ({where})")
    return "\n".join([USAGE, "", *rows, "", (__doc__ or "").strip()])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        print(_help())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"docs-qa: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    module = COMMANDS[command][0]
    if not module:
        return subprocess.call([sys.executable, "-m", "streamlit", "run", str(APP), *rest])
    return importlib.import_module(module).main(rest)


if __name__ == "__main__":
    sys.exit(main())
