"""Feedback for whoever keeps the docs.

`export --out FILE.jsonl` writes thumbs-down answers as eval questions (`python -m evaluation
--corpus DOCS --qa FILE.jsonl` reads them), so a bad answer becomes a regression question in
one step. `gaps --out FILE.csv` writes the doc-gap report: the questions the docs fell short
on (refused, weak matches, "none of these"), grouped by meaning, most asked first.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from accounts import gaps
from accounts.chats import ChatStore, regression_questions
from retrieval.cli import fail_cleanly
from retrieval.embeddings import load_embedder
from retrieval.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m accounts.feedback",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="thumbs-down answers as eval questions")
    export.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")
    export.add_argument("--db", type=Path, help="chat store (default: RAG_CHAT_DB)")
    add_gaps_parser(commands)
    args = parser.parse_args(argv)
    with fail_cleanly():
        settings = load_settings(chat_db=args.db)
        store = ChatStore(settings.chat_db_path())
        if args.command == "gaps":
            write_gaps(args, settings, store)
        else:
            write_export(args, store)
    return 0


def add_gaps_parser(commands) -> None:
    gap = commands.add_parser("gaps", help="where the docs fall short: the doc-gap report (CSV)")
    gap.add_argument("--out", required=True, type=Path, help="CSV file to write")
    gap.add_argument("--since", type=day, help="first day, YYYY-MM-DD (default: --days ago)")
    gap.add_argument("--until", type=day, help="last day, YYYY-MM-DD (default: up to now)")
    gap.add_argument("--days", type=int, default=7, help="period without --since (default 7)")
    gap.add_argument("--hide-names", action="store_true", help="leave the askers' names out")
    gap.add_argument(
        "--eval-out", type=Path, help="also write the eval questions made from gaps (JSONL)"
    )
    gap.add_argument("--db", type=Path, help="chat store (default: RAG_CHAT_DB)")


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: use YYYY-MM-DD") from None


def write_export(args, store: ChatStore) -> None:
    questions, skipped = regression_questions(store.feedback(only_down=True, limit=100_000))
    text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {len(questions)} question(s) to {args.out}")
    if skipped:
        print(
            f"{skipped} thumbs-down item(s) have no right source picked and were left out",
            file=sys.stderr,
        )


def write_gaps(args, settings: Settings, store: ChatStore) -> None:
    """The report of the period, for the admin at the terminal (who reads every document)."""
    since, until = gaps.period(args.since, args.until, args.days)
    items = gaps.gap_items(store, since, until)
    groups = gaps.group(items, load_embedder(settings)) if items else []
    viewer = gaps.Viewer(admin=True, readable=None, show_names=not args.hide_names)
    found = gaps.report(groups, viewer)
    # utf-8-sig: Excel reads Chinese questions right only with the byte-order mark
    args.out.write_text(gaps.csv_text(found), encoding="utf-8-sig", newline="")
    print(f"wrote {len(found)} gap(s) from {len(items)} question(s) to {args.out}")
    if args.eval_out:
        kept = store.gap_questions()
        args.eval_out.write_text(gaps.eval_jsonl(kept), encoding="utf-8")
        print(f"wrote {len(kept)} eval question(s) made from gaps to {args.eval_out}")


if __name__ == "__main__":
    raise SystemExit(main())
