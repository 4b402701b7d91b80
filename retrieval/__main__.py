"""`python -m retrieval "question" [--k 5] [--db URI] [--json]`: print the top-k passages."""

from __future__ import annotations

import argparse
import json
import sys

from retrieval.access import ALL
from retrieval.cli import fail_cleanly
from retrieval.search import Retriever
from retrieval.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval", description=__doc__)
    parser.add_argument("question")
    parser.add_argument(
        "--k", type=int, default=None, help="passages to return (default: RAG_TOP_K)"
    )
    parser.add_argument("--db", default=None, help="Milvus Lite path or http://host:19530")
    parser.add_argument("--json", action="store_true", help="print a JSON list of hits")
    args = parser.parse_args(argv)
    with fail_cleanly():
        retriever = Retriever(load_settings(store_uri=args.db))
        # a local command opens the index itself: whoever runs it may read all of it
        hits = retriever.search(args.question, args.k, access=ALL)
        retriever.close()
    if args.json:
        print(json.dumps([hit.as_dict() for hit in hits], ensure_ascii=False, indent=2))
        return 0
    for rank, hit in enumerate(hits, 1):
        print(f"[{rank}] {hit.score:.3f}  {hit.doc}  ›  {hit.heading or '(no heading)'}")
        print("    " + hit.text.strip().replace("\n", "\n    ")[:600] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
