"""Search with the default (the e5 + MiniLM + USE blend, one dense search per language + BM25,
fused) next to its floor, measured in the same run.

The floor is what the same question costs with nothing but the work itself: the same query
embedding (three models), exact numpy inner products of the same weighted query vectors over
the same vectors of each language, and BM25 over the same texts in-process (bm25s). Index:
1,200 real blend embeddings of short staff-style sentences, half English and half Chinese;
beyond that, convex mixes of two real ones of the same language plus a little noise,
re-normalised (each keeps the text of the first). Queries: the sample set's English questions
and zh-ops' Chinese ones, alternating. p50/p95 over the queries, one at a time, the questions
embedded as a serving process does (retrieval/batching.py; "unbatched": the model called
directly). "20 clients": the same retriever asked by 20 threads at once (as the API's worker
threads ask it), per-query latency, with the batcher and without. Serving RSS: the peak of a
separate process that opens the index, loads the models, reads the resident copy of the
vectors and answers 20 searches. "Milvus only": the same searches with the resident copy off
(RAG_RESIDENT_MAX_CHUNKS=0), every dense search a round trip to Milvus Lite. Dense recall@10:
the share of each language's exact float32 top 10 that the dense searches return.

    python -m bench.search [SIZE ...] [--keep DIR]   (--keep: build each size's index once there)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.common import ROOT, percentile, timed
from ingest.embed import chunk_row
from retrieval.access import ALL
from retrieval.batching import BatchingEmbedder
from retrieval.search import POOL, Retriever
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.store.resident import Resident
from retrieval.tokens import language
from retrieval.types import Chunk

SIZES = (1_000, 10_000, 100_000)
REAL = 1_200
CLIENTS = 20
EN = (
    "how do i reset the vpn password for my laptop when travelling to shenzhen office who "
    "approves leave expenses hotel budget client dinner deploy rollback database restore "
    "incident severity escalation printer wifi badge lunch pension learning api rate limit "
    "webhook csv import trial pricing plan route stops drivers android"
)
ZH = (
    "年假 报销 密码 重置 办公室 审批 预算 数据库 恢复 故障 升级 值班 打印机 网络 申请 出差 酒店 "
    "发票 经理 入职 电脑 账号 权限 备份 部署 回滚 告警 工单 会议室 门禁 食堂 加班 调休 病假 合同"
)


def sentences(n: int, seed: int = 3) -> list[str]:
    """Half English, half Chinese, alternating: 8 to 20 words each."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        vocabulary = (ZH if i % 2 else EN).split()
        words = [rng.choice(vocabulary) for _ in range(rng.randint(8, 20))]
        out.append(("，" if i % 2 else " ").join(words))
    return out


def grow(real: np.ndarray, texts: list[str], n: int, seed: int = 5):
    """`n` vectors and texts: the real ones, then mixes of two of the same language."""
    if n <= len(real):
        return real[:n], texts[:n]
    rng = np.random.default_rng(seed)
    extra = n - len(real)
    a = rng.integers(0, len(real) // 2, extra) * 2 + (np.arange(extra) % 2)  # same parity
    b = rng.integers(0, len(real) // 2, extra) * 2 + (np.arange(extra) % 2)
    w = rng.uniform(0.5, 0.9, (extra, 1)).astype(np.float32)
    mixed = w * real[a] + (1 - w) * real[b] + rng.normal(0, 0.01, (extra, real.shape[1]))
    mixed = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
    return np.vstack([real, mixed]), texts + [texts[i] for i in a]


def base_vectors(embedder, texts: list[str]) -> np.ndarray:
    """The real embeddings, kept between runs (~/.cache/docs-qa/bench): same model, same texts."""
    import hashlib

    key = hashlib.sha256("\n".join([embedder.name, *texts]).encode()).hexdigest()[:16]
    path = Path.home() / ".cache" / "docs-qa" / "bench" / f"search-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = embedder.embed_documents(texts)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def questions() -> list[str]:
    def load(path: Path) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["question"] for line in lines if line.strip()]

    en = [q for q in load(ROOT / "devsets" / "sample" / "questions.jsonl") if language(q) == "en"]
    zh = [q for q in load(ROOT / "devsets" / "zh-ops" / "questions.jsonl") if language(q) == "zh"]
    return [q for pair in zip(en, zh, strict=False) for q in pair]


def settings_for(db: str, **extra) -> Settings:
    return Settings(_env_file=None, store_uri=db, embedding_model="blend-offline", **extra)


def bench_chunk(i: int, text: str) -> Chunk:
    """Row i: ten to a document, each under its own heading (a text repeated within a document
    would otherwise give two rows one id, and the index keeps one of them)."""
    return Chunk(f"doc{i // 10}.md", f"Bench {i % 10}", text, language(text))


def build(db: str, vectors: np.ndarray, texts: list[str], name: str, **extra) -> list[str]:
    """The index, written as ingest writes it; returns the chunk ids, row for row."""
    store = Store(settings_for(db, **extra))
    rows = [
        chunk_row(bench_chunk(i, text), "bench", vector)
        for i, (vector, text) in enumerate(zip(vectors, texts, strict=True))
    ]
    meta = {"rag.embedding_model": name, "rag.chunking": "bench", "rag.langs": "en,zh"}
    store.publish(iter(rows), meta, vectors.shape[1])
    store.close()
    return [row.id for row in rows]


class Floor:
    """The same question's work with nothing around it: embedding, numpy, bm25s."""

    def __init__(self, retriever: Retriever, vectors: np.ndarray, texts: list[str], ids: list[str]):
        import bm25s

        self.retriever = retriever
        self.embedder = getattr(retriever.embedder, "inner", retriever.embedder)  # unbatched
        langs = np.array([language(t) for t in texts])
        self.parts = {lang: vectors[langs == lang] for lang in ("en", "zh")}
        self.ids = {lang: np.asarray(ids)[langs == lang] for lang in ("en", "zh")}
        self.bm25 = bm25s.BM25()
        self.bm25.index([tokens(t) for t in texts], show_progress=False)

    def search(self, query: str, lexical: bool = True) -> None:
        r = self.retriever
        vector = self.embedder.embed_queries([query])[0]
        own = language(query)
        for lang, part in self.parts.items():
            scores = part @ np.asarray(r._weighted(vector, own, lang), dtype=np.float32)
            top = np.argpartition(-scores, POOL)[:POOL]
            top[np.argsort(-scores[top])]
        if lexical:
            self.bm25.retrieve([tokens(query)], k=POOL, show_progress=False, n_threads=1)

    def exact(self, query: str, k: int = 10) -> set[str]:
        """The ids of each language's exact top k by the dense score (what recall is of)."""
        r = self.retriever
        vector = self.embedder.embed_queries([query])[0]
        own, found = language(query), set()
        for lang, part in self.parts.items():
            scores = part @ np.asarray(r._weighted(vector, own, lang), dtype=np.float32)
            found |= set(self.ids[lang][np.argsort(-scores)[:k]])
        return found


def recall(retriever: Retriever, floor: Floor, texts: list[str], k: int = 10) -> float:
    """Share of each language's exact dense top k that the index's dense searches return."""
    hit = total = 0
    for text in texts:
        exact = floor.exact(text, k)
        found = {h.chunk_id for h in retriever.retrieve(text, k, access=ALL).dense}
        hit, total = hit + len(exact & found), total + len(exact)
    return hit / max(total, 1)


def tokens(text: str) -> list[str]:
    """Words, and Chinese as character pairs (the floor's BM25 needs no dictionary)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    han = re.findall(r"[\u4e00-\u9fff]+", text)
    return words + [run[i : i + 2] for run in han for i in range(max(1, len(run) - 1))] or ["_"]


def latencies(fn, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        fn(text)
        out.append(time.perf_counter() - start)
    return out


def under_load(retriever: Retriever, texts: list[str], clients: int = CLIENTS) -> list[float]:
    """Per-query latency with `clients` threads asking at once."""

    def one(text: str) -> float:
        start = time.perf_counter()
        retriever.search(text, 10, access=ALL)
        return time.perf_counter() - start

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, texts * 2))


def summary(ours: list[float], floor: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(ours, 50) * 1000,
        "p95_ms": percentile(ours, 95) * 1000,
        "floor_p50_ms": percentile(floor, 50) * 1000,
        "floor_p95_ms": percentile(floor, 95) * 1000,
    }


def serving_rss(db: str) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process: after imports, after the models, after 20 searches."""
    code = "import sys, json; from bench.search import serve; print(json.dumps(serve(sys.argv[1])))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, db], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def serve(db: str) -> dict[str, float]:
    from bench.common import peak_rss_mb
    from retrieval.embeddings import load_embedder

    steps = {"imports": peak_rss_mb()}
    settings = settings_for(db)
    embedder = load_embedder(settings)
    steps["models"] = peak_rss_mb()
    retriever = Retriever(settings, embedder=BatchingEmbedder(embedder))
    resident(retriever)
    for text in questions()[:20]:
        retriever.search(text, 10, access=ALL)
    steps["searches"] = peak_rss_mb()
    retriever.close()
    return steps


def resident(retriever: Retriever) -> Resident | None:
    """Read the live version into memory now, as a serving process does in the background
    after its first question; None when the index is over RAG_RESIDENT_MAX_CHUNKS."""
    store = retriever.store
    return store.wait_resident(store.snapshot(access=ALL), timeout=900)


def indexed(folder: str, size: int, vectors: np.ndarray, texts: list[str], name: str):
    """(index path, chunk ids) of a size's index: built, or kept from an earlier run."""
    db = Path(folder) / f"s{size}.db"
    if db.exists():
        return str(db), [bench_chunk(i, text).id for i, text in enumerate(texts)]
    return str(db), build(str(db), vectors, texts, name)


def alone(retriever: Retriever, texts: list[str]) -> tuple[list[float], list[float]]:
    """Per-question latency one at a time, through the batcher and with the model called
    directly, question by question in turn (so both see the same machine)."""
    batcher = retriever.embedder
    batched, plain = [], []
    for text in texts:
        for embedder, out in ((batcher, batched), (batcher.inner, plain)):
            retriever.embedder = embedder
            out.append(timed(lambda t=text: retriever.search(t, 10, access=ALL)))
    retriever.embedder = batcher
    return batched, plain


def loaded(retriever: Retriever, texts: list[str]) -> dict[str, float]:
    """20 clients at once, with the batcher and with the model called directly."""
    batcher = retriever.embedder
    batches = batcher.batches
    row = pct("load", under_load(retriever, texts))
    row["load_per_batch"] = len(texts) * 2 / max(batcher.batches - batches, 1)
    retriever.embedder = batcher.inner
    row.update(pct("load_plain", under_load(retriever, texts)))
    retriever.embedder = batcher
    return row


def pct(name: str, values: list[float]) -> dict[str, float]:
    return {f"{name}_p50_ms": percentile(values, 50) * 1000,
            f"{name}_p95_ms": percentile(values, 95) * 1000}  # fmt: skip


def measure(db: str, size: int, floor_of, embedder, asked: list[str]) -> dict:
    """One size's row: Milvus only, then the resident copy against the floor."""
    rss = serving_rss(db) if size >= 10_000 else {}
    remote = Retriever(settings_for(db, resident_max_chunks=0), embedder=embedder)
    remote.search(asked[0], 10, access=ALL)  # warm-up: load and first query
    milvus = latencies(lambda q, r=remote: r.search(q, 10, access=ALL), asked)
    remote.close()
    retriever = Retriever(settings_for(db), embedder=BatchingEmbedder(embedder))
    floor = floor_of(retriever)
    retriever.search(asked[0], 10, access=ALL)
    copy = resident(retriever)
    ours, plain = alone(retriever, asked)
    base = latencies(floor.search, asked)
    row = {"chunks": size, **summary(ours, base), "rss": rss, "resident": copy is not None,
           "copy_mb": copy.nbytes / 1e6 if copy is not None else 0.0,
           **pct("plain", plain), "milvus_p50_ms": percentile(milvus, 50) * 1000,
           "index": retriever.settings.index_type,
           "recall": recall(retriever, floor, asked)}  # fmt: skip
    if size == 10_000:
        row.update(loaded(retriever, asked))
    retriever.close()
    return row


def run(sizes=SIZES, keep: str | None = None) -> list[dict]:
    from retrieval.embeddings import load_embedder

    embedder = load_embedder(settings_for("unused.db"))
    base_texts = sentences(REAL)
    real = base_vectors(embedder, base_texts)
    asked = questions()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        for size in sizes:
            vectors, texts = grow(real, base_texts, size)
            db, ids = indexed(keep or tmp, size, vectors, texts, embedder.name)

            def floor_of(retriever, v=vectors, t=texts, i=ids):
                return Floor(retriever, v, t, i)

            results.append(measure(db, size, floor_of, embedder, asked))
    return results


def markdown(rows: list[dict]) -> str:
    lines = [
        "| chunks | dense search in (copy MB) | p50 ms | p95 ms | floor p50 ms | floor p95 ms | "
        "p50 / floor | unbatched p50 ms | Milvus only p50 ms (/ floor) | dense recall@10 | "
        f"{CLIENTS} clients p50 / p95 ms (questions a batch) | unbatched | "
        "serving RSS MB (imports / models / searching) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        load = plain = ""
        if "load_p50_ms" in r:
            load = f"{r['load_p50_ms']:.0f} / {r['load_p95_ms']:.0f} ({r['load_per_batch']:.1f})"
            plain = f"{r['load_plain_p50_ms']:.0f} / {r['load_plain_p95_ms']:.0f}"
        rss = " / ".join(f"{r['rss'][k]:.0f}" for k in r["rss"])
        where = f"memory ({r['copy_mb']:.0f})" if r["resident"] else f"Milvus Lite ({r['index']})"
        milvus = f"{r['milvus_p50_ms']:.1f} ({r['milvus_p50_ms'] / r['floor_p50_ms']:.2f}x)"
        lines.append(
            f"| {r['chunks']:,} | {where} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['floor_p50_ms']:.1f} | {r['floor_p95_ms']:.1f} | "
            f"{r['p50_ms'] / r['floor_p50_ms']:.2f}x | {r['plain_p50_ms']:.1f} | {milvus} | "
            f"{r['recall']:.3f} | {load} | {plain} | {rss if r['rss'] else ''} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Search against its floor.")
    parser.add_argument("sizes", nargs="*", type=int, help=f"chunks (default {SIZES})")
    parser.add_argument("--keep", help="a folder to keep each size's index in, and reuse")
    args = parser.parse_args(argv)
    rows = run(tuple(args.sizes) or SIZES, args.keep)
    print(markdown(rows))
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
