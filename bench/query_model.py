"""What the query model adds to a question's wait: the search alone, the search with the model
writing the question in the index's other language (first time, and cached), and the model's
call alone, side by side, over the sample docs' questions, with the local test model
(Qwen2.5-Coder-0.5B-Instruct behind llama.cpp's server on 127.0.0.1). Added time = with the
model - alone; the model's call runs beside the first search, so it is less than the call.

    python -m bench.query_model [--questions 24]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import ROOT, free_port  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from retrieval.access import ALL  # noqa: E402
from retrieval.local_model import serve, settings_for, stop  # noqa: E402
from retrieval.query_model import open_query_model  # noqa: E402
from retrieval.search import Retriever  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import Store  # noqa: E402


def questions(count: int) -> list[str]:
    """Half Chinese, half English questions of the sample set."""
    rows = [json.loads(line) for line in (ROOT / "devsets/sample/questions.jsonl").open()]
    zh = [r["question"] for r in rows if r.get("lang") == "zh"][: count // 2]
    en = [r["question"] for r in rows if r.get("lang") != "zh"][: count - len(zh)]
    return zh + en


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run(count: int = 24) -> dict[str, float]:
    port = free_port()
    server = serve(port)
    try:
        env = {k.removeprefix("RAG_").lower(): v for k, v in settings_for(port).items()}
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(_env_file=None, store_uri=str(Path(tmp) / "m.db"),
                                docs_dir=ROOT / "docs_corpus", **env)  # fmt: skip
            store = Store(settings)
            plain = Retriever(settings, store)
            ingest(settings, store, plain.embedder)
            helped = Retriever(
                settings, store, plain.embedder, query_model=open_query_model(settings)
            )
            asked = questions(count)
            for q in asked[:2]:  # warm: the resident copy, the model's first call
                plain.retrieve(q, 5, access=ALL)
                helped.query_model.variants(helped.query_model.start(q + " ?", ("en", "zh")))
            alone = [timed(lambda q=q: plain.retrieve(q, 5, access=ALL)) for q in asked]
            first = [timed(lambda q=q: helped.retrieve(q, 5, access=ALL)) for q in asked]
            cached = [timed(lambda q=q: helped.retrieve(q, 5, access=ALL)) for q in asked]
            model = helped.query_model
            call = [
                timed(lambda q=q: model._one(q + " ", "translation"))
                for q in asked  # uncached
            ]
            store.close()
    finally:
        stop(server)
    p50 = statistics.median
    return {"questions": len(asked), "search_ms": p50(alone), "with_model_ms": p50(first),
            "with_model_cached_ms": p50(cached), "model_call_ms": p50(call),
            "added_ms": p50(first) - p50(alone)}  # fmt: skip


def markdown(figures: dict[str, float]) -> str:
    rows = [
        ("search alone", figures["search_ms"]),
        ("search with the query model (first time)", figures["with_model_ms"]),
        ("search with the query model (cached)", figures["with_model_cached_ms"]),
        ("the model's translation call alone", figures["model_call_ms"]),
        ("added by the query model", figures["added_ms"]),
    ]
    lines = ["| p50 over the questions | ms |", "|---|---|"]
    lines += [f"| {name} | {value:.1f} |" for name, value in rows]
    return "\n".join(lines) + f"\n\n{int(figures['questions'])} questions of the sample set."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=24)
    args = parser.parse_args(argv)
    print(markdown(run(args.questions)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
