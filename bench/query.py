"""Query latency: embed + search through the retriever, next to the floor measured in the same run.

The floor is the same query embedding plus an exact numpy inner product over the same vectors.
Vectors: 10,000 real MiniLM embeddings of synthetic staff-style sentences; beyond that (100k),
convex mixes of two real ones plus a little noise, re-normalised. For each size and index type:
p50/p95 over 200 queries, recall@10 against exact search, and the peak RSS of a separate process
that opens the index and serves searches (what the app holds).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, percentile, queries
from ingest.pipeline import chunk_row
from retrieval.access import ALL
from retrieval.embeddings import load_minilm
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.types import Chunk

SIZES = (1_000, 10_000, 100_000)
INDEXES = {"FLAT": {}, "HNSW": {"M": 16, "efConstruction": 200}}
VOCAB = [
    "how",
    "do",
    "i",
    "reset",
    "the",
    "vpn",
    "password",
    "for",
    "my",
    "laptop",
    "when",
    "travelling",
    "to",
    "the",
    "shenzhen",
    "office",
    "and",
    "who",
    "approves",
    "leave",
    "expenses",
    "hotel",
    "budget",
    "client",
    "dinner",
    "deploy",
    "rollback",
    "database",
    "restore",
    "incident",
    "severity",
    "escalation",
    "printer",
    "wifi",
    "badge",
    "lunch",
    "pension",
    "bike",
    "learning",
    "budget",
    "api",
    "rate",
    "limit",
    "webhook",
    "csv",
    "import",
    "trial",
    "pricing",
    "plan",
    "route",
    "stops",
    "drivers",
    "app",
    "android",
]


def sentences(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 20))) for _ in range(n)]


def base_vectors(embedder, real: int = 10_000) -> np.ndarray:
    return embedder.embed_documents(sentences(real))


def grow(real: np.ndarray, n: int, seed: int = 5) -> np.ndarray:
    if n <= len(real):
        return real[:n]
    rng = np.random.default_rng(seed)
    extra = n - len(real)
    a, b = rng.integers(0, len(real), extra), rng.integers(0, len(real), extra)
    w = rng.uniform(0.5, 0.9, (extra, 1)).astype(np.float32)
    mixed = w * real[a] + (1 - w) * real[b]
    mixed += rng.normal(0, 0.01, mixed.shape).astype(np.float32)
    mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
    return np.vstack([real, mixed]).astype(np.float32)


def build(db: str, vectors: np.ndarray, embedder) -> Settings:
    settings = Settings(
        _env_file=None, store_uri=db, embedding_model="minilm-offline", search_mode="dense"
    )
    store = Store(settings)

    def rows():
        for i, vector in enumerate(vectors):
            chunk = Chunk(f"doc{i // 10}.md", "Bench", f"chunk {i}")
            yield chunk_row(chunk, "bench", vector.tolist())

    meta = {"rag.embedding_model": embedder.name, "rag.chunking": "bench"}
    store.publish(rows(), meta, embedder.dim)
    store.close()
    return settings


def use_index(store: Store, index_type: str) -> None:
    name = store.live_collection()
    store.client.release_collection(name)
    store.client.drop_index(name, "vector")
    params = store.client.prepare_index_params()
    params.add_index("vector", index_type=index_type, metric_type="IP", params=INDEXES[index_type])
    store.client.create_index(name, params, sync=False)
    store.client.load_collection(name)
    store._loaded = name
    store.index_type = index_type  # search parameters follow the index (HNSW: ef)


def measure(retriever: Retriever, vectors: np.ndarray, texts: list[str]) -> dict[str, float]:
    embedder = retriever.embedder
    ours, floor, recalls = [], [], []
    for text in texts:
        start = time.perf_counter()
        hits = retriever.search(text, 10, access=ALL)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        q = embedder.embed_queries([text])[0]
        exact = np.argpartition(-(vectors @ q), 10)[:10]
        floor.append(time.perf_counter() - start)
        ids = {int(h.text.split()[1]) for h in hits}
        recalls.append(len(ids & set(exact.tolist())) / 10)
    return {
        "p50_ms": percentile(ours, 50) * 1000,
        "p95_ms": percentile(ours, 95) * 1000,
        "floor_p50_ms": percentile(floor, 50) * 1000,
        "floor_p95_ms": percentile(floor, 95) * 1000,
        "recall@10": float(np.mean(recalls)),
    }


def build_apart(db: str, vectors: np.ndarray, folder: Path) -> Settings:
    """Build the index in a child process: Milvus Lite keeps a data directory locked until the
    process that opened it exits, and the serving process must open it afresh."""
    path = folder / "vectors.npy"
    np.save(path, vectors)
    code = (
        "import sys, numpy as np; from bench.query import build; "
        "from retrieval.embeddings import load_minilm; "
        "build(sys.argv[1], np.load(sys.argv[2]), load_minilm())"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-c", code, db, str(path)], env=env, check=True, capture_output=True
    )
    return Settings(
        _env_file=None, store_uri=db, embedding_model="minilm-offline", search_mode="dense"
    )


def serving_rss(db: str) -> float:
    """Peak RSS (MB) of a fresh process that opens the index and answers 20 searches."""
    code = (
        "import sys; from bench.query import serve; from bench.common import peak_rss_mb; "
        "serve(sys.argv[1]); print(peak_rss_mb())"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, db], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def serve(db: str) -> None:
    settings = Settings(
        _env_file=None, store_uri=db, embedding_model="minilm-offline", search_mode="dense"
    )
    retriever = Retriever(settings)
    for text in queries()[:20]:
        retriever.search(text, 10, access=ALL)
    retriever.close()


def run(sizes=SIZES, n_queries: int = 200) -> list[dict]:
    embedder = load_minilm()
    real = base_vectors(embedder)
    texts = (queries() * 2)[:n_queries]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
        for size in sizes:
            vectors = grow(real, size)
            db = str(Path(tmp) / f"q{size}.db")
            settings = build_apart(db, vectors, Path(tmp))
            rss = serving_rss(db)
            store = Store(settings)
            retriever = Retriever(settings, store, embedder)
            for index_type in INDEXES:
                use_index(store, index_type)
                retriever.search(texts[0], 10, access=ALL)  # warm-up: load and first query
                row = {"chunks": size, "index": index_type, **measure(retriever, vectors, texts)}
                row["serving_rss_mb"] = rss if index_type == "FLAT" else float("nan")
                results.append(row)
            store.close()
    return results


def markdown(rows: list[dict]) -> str:
    lines = [
        "| chunks | index | p50 ms | p95 ms | floor p50 ms | floor p95 ms | p50 / floor | "
        "recall@10 | serving RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rss = "" if r["serving_rss_mb"] != r["serving_rss_mb"] else f"{r['serving_rss_mb']:.0f}"
        lines.append(
            f"| {r['chunks']:,} | {r['index']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['floor_p50_ms']:.1f} | {r['floor_p95_ms']:.1f} | "
            f"{r['p50_ms'] / r['floor_p50_ms']:.1f}x | {r['recall@10']:.3f} | {rss} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sizes = tuple(int(s) for s in sys.argv[1:]) or SIZES
    rows = run(sizes)
    print(markdown(rows))
    print(json.dumps(rows))
