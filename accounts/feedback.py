"""Feedback for whoever keeps the docs: `python -m accounts.feedback export --out FILE.jsonl`
writes thumbs-down answers as eval questions (`python -m evaluation --corpus DOCS --qa
FILE.jsonl` reads them), so a bad answer becomes a regression question in one step."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from accounts.chats import ChatStore, regression_questions
from retrieval.cli import fail_cleanly
from retrieval.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accounts.feedback", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="thumbs-down answers as eval questions")
    export.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")
    export.add_argument("--db", type=Path, help="chat store (default: RAG_CHAT_DB)")
    args = parser.parse_args(argv)
    with fail_cleanly():
        store = ChatStore(load_settings(chat_db=args.db).chat_db_path())
        questions, skipped = regression_questions(store.feedback(only_down=True, limit=100_000))
        text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {len(questions)} question(s) to {args.out}")
        if skipped:
            print(
                f"{skipped} thumbs-down item(s) have no right source picked and were left out",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
