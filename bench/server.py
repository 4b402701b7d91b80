"""Past Milvus Lite: 100k chunks on Lite and on a real Milvus standalone, next to the floor.

The same vectors and questions as `bench.search`, dense only (Milvus 2.3.5, the standalone
server the tests start, has no BM25): Milvus Lite with FLAT (exact), the standalone with HNSW
(M 16, efConstruction 200) at the smallest `ef` whose recall@10 against exact search is at
least 0.99 on every language, and the floor (the same query embedding and exact numpy inner
products of the same weighted query vectors over each language's vectors). p50/p95 through the
real retriever (`RAG_SEARCH_MODE=dense`: one search per language, side by side).

    python -m bench.server [SIZE]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import free_port, percentile
from bench.search import (
    REAL,
    Floor,
    base_vectors,
    bench_chunk,
    build,
    grow,
    latencies,
    questions,
    sentences,
)
from ingest.embed import chunk_row
from retrieval.access import ALL
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.tokens import language

MILVUS_SERVER = Path(sys.executable).with_name("milvus-server")
TOKEN = "root:Milvus"
EFS = (64, 128, 256, 512, 1024, 2048, 4096)


def settings_for(uri: str, **extra) -> Settings:
    values = {"embedding_model": "blend-offline", "search_mode": "dense", **extra}
    return Settings(_env_file=None, store_uri=uri, **values)


class Standalone:
    """`milvus-server` (the `milvus` package's Milvus 2.3.5) on a free port, stopped on exit."""

    def __init__(self, data: Path):
        self.port = free_port()
        command = [str(MILVUS_SERVER), "--data", str(data), "--proxy-port", str(self.port)]
        self.log = open(data / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=self.log, start_new_session=True
        )
        self.uri = f"http://127.0.0.1:{self.port}"

    def wait(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                Store(settings_for(self.uri)).close()
                return
            except Exception:  # noqa: BLE001 - anything means "not up yet" while it starts
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("milvus-server did not start") from None
                time.sleep(1)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)  # the wrapper and the binary it runs
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def wait_indexed(uri: str, timeout_s: float = 1800) -> None:
    """Until the server has built the HNSW index over every row (before that it searches an
    interim index, and recall says nothing about HNSW)."""
    store = Store(settings_for(uri))
    name, deadline = store.live_collection(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        index = store.client.describe_index(name, "vector")
        if index.get("pending_index_rows", 0) == 0 and index.get("indexed_rows", 0) >= int(
            index.get("total_rows", 0)
        ):
            break
        time.sleep(2)
    store.close()


def row_ids(texts: list[str]) -> np.ndarray:
    return np.array([chunk_row(bench_chunk(i, t), "bench", []).id for i, t in enumerate(texts)])


def recall(retriever: Retriever, vectors, texts, asked: list[str]) -> float:
    """The worst language's recall@10 of the index's dense search against exact search."""
    ids, langs = row_ids(texts), np.array([language(t) for t in texts])
    at = retriever.store.snapshot(access=ALL)
    worst = 1.0
    for lang in ("en", "zh"):
        rows = np.flatnonzero(langs == lang)
        found = []
        for q in asked:
            vector = retriever.embedder.embed_queries([q])[0]
            weighted = retriever._weighted(vector, language(q), lang)
            exact = ids[rows[np.argsort(-(vectors[rows] @ np.asarray(weighted)))[:10]]]
            hits = retriever.store.dense_search(weighted, 10, at, lang)
            found.append(len({h.chunk_id for h in hits} & set(exact)) / 10)
        worst = min(worst, float(np.mean(found)))
    return worst


def measure(retriever: Retriever, asked: list[str]) -> tuple[float, float]:
    retriever.search(asked[0], 10, access=ALL)
    times = latencies(lambda q: retriever.search(q, 10, access=ALL), asked)
    return percentile(times, 50) * 1000, percentile(times, 95) * 1000


def run(size: int = 100_000) -> list[dict]:
    from retrieval.embeddings import load_embedder

    embedder = load_embedder(settings_for("unused.db"))
    base = sentences(REAL)
    vectors, texts = grow(base_vectors(embedder, base), base, size)
    asked = questions()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        lite = str(Path(tmp) / "lite.db")
        ids = build(lite, vectors, texts, embedder.name, search_mode="dense")
        retriever = Retriever(settings_for(lite), embedder=embedder)
        floor = Floor(retriever, vectors, texts, ids)
        base_times = latencies(lambda q: floor.search(q, lexical=False), asked)
        floor_p50 = percentile(base_times, 50) * 1000
        floor_p95 = percentile(base_times, 95) * 1000
        p50, p95 = measure(retriever, asked)
        rows.append({"where": "Milvus Lite", "index": "FLAT", "ef": "", "p50": p50, "p95": p95,
                     "recall": recall(retriever, vectors, texts, asked[:20])})  # fmt: skip
        retriever.close()
        server = Standalone(Path(tmp))
        try:
            server.wait()
            build(server.uri, vectors, texts, embedder.name, search_mode="dense",
                  index_type="HNSW")  # fmt: skip
            wait_indexed(server.uri)
            for ef in EFS:
                retriever = Retriever(
                    settings_for(server.uri, index_type="HNSW", hnsw_ef=ef), embedder=embedder
                )
                got = recall(retriever, vectors, texts, asked[:20])
                if got >= 0.99 or ef == EFS[-1]:
                    p50, p95 = measure(retriever, asked)
                    rows.append({"where": "Milvus 2.3.5 standalone", "index": "HNSW", "ef": ef,
                                 "p50": p50, "p95": p95, "recall": got})  # fmt: skip
                    retriever.close()
                    break
                retriever.close()
        finally:
            server.stop()
    for row in rows:
        row.update(chunks=size, floor_p50=floor_p50, floor_p95=floor_p95)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| chunks | where | index | ef | p50 ms | p95 ms | floor p50 ms | p50 / floor | "
        "recall@10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['chunks']:,} | {r['where']} | {r['index']} | {r['ef']} | {r['p50']:.1f} | "
            f"{r['p95']:.1f} | {r['floor_p50']:.1f} | {r['p50'] / r['floor_p50']:.2f}x | "
            f"{r['recall']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(markdown(run(int(args[0]) if args else 100_000)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
