"""`python -m retrieval.ask "question" [--model NAME] [--k N] [--json]`: answer from the docs.

Streams the answer to the terminal with the reasoning dimmed, then lists the sources.
"""

from __future__ import annotations

import argparse
import json
import sys

from retrieval.access import ALL
from retrieval.answer import Answer, Found, answer_question
from retrieval.cli import fail_cleanly
from retrieval.llm import LLMError, open_chat
from retrieval.query_model import open_query_model
from retrieval.search import Retriever
from retrieval.settings import load_settings

DIM, RESET = "\033[2m", "\033[0m"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.ask", description=__doc__)
    parser.add_argument("question")
    parser.add_argument("--model", default=None, help="model name (default: RAG_LLM)")
    parser.add_argument("--k", type=int, default=None, help="passages to retrieve")
    parser.add_argument("--db", default=None, help="Milvus Lite path or http://host:19530")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with fail_cleanly():
        settings = load_settings(store_uri=args.db, llm=args.model)
        try:
            chat = open_chat(settings)
        except LLMError as exc:
            raise ValueError(str(exc)) from None
        retriever = Retriever(settings, query_model=open_query_model(settings))
        # a local command opens the index itself: whoever runs it may read all of it
        events = answer_question(args.question, [], retriever, chat, settings, args.k, access=ALL)
        final, streamed = _run(events, args)
        retriever.close()
    if args.json:
        print(json.dumps(final.as_dict(), ensure_ascii=False, indent=2))
        if final.error:
            print(f"error: {final.error}", file=sys.stderr)
    else:
        _print_footer(final, streamed)
    return 1 if final.error else 0


def _run(events, args) -> tuple[Answer, bool]:
    """Print deltas as they arrive; return the final answer and whether any text was shown."""
    color = sys.stdout.isatty()
    last = None
    for event in events:
        if isinstance(event, Answer):
            if last:
                sys.stdout.write("\n")
            return event, last is not None
        if args.json or isinstance(event, Found):
            continue
        if event.kind == "reasoning":
            sys.stdout.write(f"{DIM}{event.text}{RESET}" if color else event.text)
        else:
            if last == "reasoning":
                sys.stdout.write("\n\n")
            sys.stdout.write(event.text)
        last = event.kind
        sys.stdout.flush()
    raise RuntimeError("the answer pipeline ended without an answer")


def _print_footer(final: Answer, streamed: bool) -> None:
    if final.error:
        print(f"error: {final.error}", file=sys.stderr)
        return
    if not streamed:  # retrieval-only mode, or the cannot-answer sentence
        print(final.answer)
    for notice in final.notices:
        if notice not in final.answer:
            print(f"\nnote: {notice}")
    if final.sources:
        print("\nSources:")
    for s in final.sources:
        mark = "*" if s.cited else " "
        print(f" {mark}[{s.n}] {s.doc} › {s.heading or '(top)'}  (relevance {s.relevance:.2f})")


if __name__ == "__main__":
    sys.exit(main())
