"""The shipped default against the tutorial pipeline, side by side in one run.

Ingest: the long-form dev corpus (devsets/reference) through `python -m ingest --json` with the
shipped defaults, and through the tutorial's pipeline (split on "# ", pymilvus's own
`OnnxEmbeddingFunction` with the MiniLM ONNX file standing in for the Milvus default model,
which needs the Hugging Face hub, and a quick-setup dense collection), each in its own process
so that time and peak RSS are the child's. Query: embed + search (no LLM) over a 10,000-chunk
index built from real dev-set passages (vectors beyond the real ones are mixes of two real
ones), 200 questions from the dev sets, p50 / p95.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, peak_rss_mb, percentile
from retrieval.access import ALL

CORPUS = ROOT / "devsets" / "reference" / "docs"
QUERY_SETS = ("reference", "zh-ops", "mixed", "helpcentre")


def tutorial_ingest(docs: str, db: str) -> dict:
    """The tutorial: text.split("# "), pymilvus's embedding function, insert, done."""
    from pymilvus import MilvusClient
    from pymilvus.model.dense.onnx import OnnxEmbeddingFunction
    from transformers import AutoTokenizer

    from retrieval.embeddings import minilm_files

    started = time.perf_counter()
    onnx_path, tokenizer_json = minilm_files()
    encoder = OnnxEmbeddingFunction.__new__(OnnxEmbeddingFunction)
    encoder.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_json.parent))
    import onnxruntime

    encoder.ort_session = onnxruntime.InferenceSession(str(onnx_path))
    texts = [
        piece
        for path in sorted(Path(docs).rglob("*.md"))
        for piece in path.read_text(encoding="utf-8").split("# ")
        if piece.strip()
    ]
    vectors = encoder.encode_documents(texts)
    client = MilvusClient(db)
    client.create_collection("tutorial", dimension=384, metric_type="IP")
    pairs = enumerate(zip(vectors, texts, strict=True))
    rows = [{"id": i, "vector": v.tolist(), "text": t[:20000]} for i, (v, t) in pairs]
    client.insert("tutorial", rows)
    return {"seconds": time.perf_counter() - started, "chunks": len(texts), "rss_mb": peak_rss_mb()}


def child(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def ours_ingest(docs: str, db: str, embedding_model: str = "") -> dict:
    """`python -m ingest` with the shipped defaults (or another embedder) in its own process."""
    code = (
        "import json, subprocess, sys, time; from bench.common import peak_rss_mb\n"
        "from ingest.__main__ import main\n"
        "t = time.perf_counter(); main([sys.argv[1], '--db', sys.argv[2], '--json'])\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rss_mb': peak_rss_mb()}))"
    )
    chosen = {"RAG_EMBEDDING_MODEL": embedding_model} if embedding_model else {}
    return child(code, docs, db, env=chosen)


def ingest_side_by_side() -> dict[str, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-defaults-") as tmp:
        tutorial = child(
            "import json, sys; from bench.defaults import tutorial_ingest; "
            "print(json.dumps(tutorial_ingest(sys.argv[1], sys.argv[2])))",
            str(CORPUS),
            str(Path(tmp) / "tutorial.db"),
        )
        ours = ours_ingest(str(CORPUS), str(Path(tmp) / "ours.db"))
        e5 = ours_ingest(str(CORPUS), str(Path(tmp) / "e5.db"), "e5-offline")
    return {"tutorial": tutorial, "default": ours, "e5-offline": e5}


def questions(n: int) -> list[str]:
    texts = []
    for name in QUERY_SETS:
        path = ROOT / "devsets" / name / "questions.jsonl"
        texts += [json.loads(line)["question"] for line in path.read_text("utf-8").splitlines()]
    return (texts * (n // len(texts) + 1))[:n]


def passages() -> list:
    from ingest.split import split_markdown

    chunks = []
    for name in ("reference", "zh-ops", "mixed", "helpcentre", "helpcentre-2"):
        folder = ROOT / "devsets" / name / "docs"
        for path in sorted(folder.rglob("*.md")):
            rel = f"{name}/{path.relative_to(folder).as_posix()}"
            chunks += split_markdown(path.read_text(encoding="utf-8"), rel)
    return chunks


def grow(real: np.ndarray, n: int, seed: int = 7) -> np.ndarray:
    """n unit vectors: the real ones, then convex mixes of two real ones plus a little noise."""
    rng = np.random.default_rng(seed)
    extra = n - len(real)
    a, b = rng.integers(0, len(real), extra), rng.integers(0, len(real), extra)
    w = rng.uniform(0.5, 0.9, (extra, 1)).astype(np.float32)
    mixed = w * real[a] + (1 - w) * real[b] + rng.normal(0, 0.01, (extra, real.shape[1]))
    mixed = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
    return np.vstack([real, mixed])


def build_10k(db: str, size: int) -> None:
    """A default-schema index of `size` chunks: real passages, their texts reused for the rest."""
    from dataclasses import replace

    from ingest.embed import chunk_row
    from retrieval.embeddings import load_embedder
    from retrieval.settings import Settings
    from retrieval.store import Store, meta_for

    embedder = load_embedder(Settings(_env_file=None))  # the shipped default
    chunks = passages()
    real = embedder.embed_documents([c.embed_text for c in chunks])
    vectors = grow(real, size)
    store = Store(Settings(_env_file=None, store_uri=db))
    rows = []
    for i, vector in enumerate(vectors):
        chunk = chunks[i % len(chunks)]
        if i >= len(chunks):
            chunk = replace(chunk, doc=f"copy{i // len(chunks)}/{chunk.doc}")
        rows.append(chunk_row(chunk, "bench", vector.tolist()))
    meta = {**meta_for(embedder.name, "bench"), "rag.langs": "en,zh"}
    store.publish(rows, meta, embedder.dim)
    store.close()


def query_latency(size: int = 10_000, n: int = 200) -> dict[str, dict]:
    """p50/p95 of embed + search for the default retriever and the tutorial's dense search."""
    with tempfile.TemporaryDirectory(prefix="bench-q10k-") as tmp:
        db = str(Path(tmp) / "q.db")
        code = f"from bench.defaults import build_10k; build_10k({db!r}, {size})"
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
            capture_output=True,
        )
        code = (
            "import json, sys; from bench.defaults import serve; "
            "print(json.dumps(serve(sys.argv[1], int(sys.argv[2]))))"
        )
        return child(code, db, str(n))


def serve(db: str, n: int) -> dict[str, dict]:
    """In one process: the default Retriever, then the tutorial's embed + dense search."""
    from pymilvus.model.dense.onnx import OnnxEmbeddingFunction
    from transformers import AutoTokenizer

    from retrieval.embeddings import minilm_files
    from retrieval.search import Retriever
    from retrieval.settings import Settings

    texts = questions(n)
    retriever = Retriever(Settings(_env_file=None, store_uri=db))
    retriever.search(texts[0], access=ALL)  # warm-up: load the collection
    ours = []
    for text in texts:
        start = time.perf_counter()
        retriever.search(text, 5, access=ALL)
        ours.append(time.perf_counter() - start)
    rss = peak_rss_mb()
    onnx_path, tokenizer_json = minilm_files()
    encoder = OnnxEmbeddingFunction.__new__(OnnxEmbeddingFunction)
    encoder.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_json.parent))
    import onnxruntime

    encoder.ort_session = onnxruntime.InferenceSession(str(onnx_path))
    tutorial = []
    client, name = retriever.store.client, retriever.store.live_collection()
    for text in texts:
        start = time.perf_counter()
        vector = encoder.encode_queries([text])[0]  # 384-d MiniLM, padded to the index's width
        vector = np.pad(vector, (0, retriever.embedder.dim - len(vector)))
        client.search(name, data=[vector.tolist()], limit=5, output_fields=["text"])
        tutorial.append(time.perf_counter() - start)
    retriever.close()
    return {
        "default": _percentiles(ours, rss),
        "tutorial": _percentiles(tutorial, peak_rss_mb()),
    }


def _percentiles(seconds: list[float], rss: float) -> dict[str, float]:
    return {
        "p50_ms": percentile(seconds, 50) * 1000,
        "p95_ms": percentile(seconds, 95) * 1000,
        "rss_mb": rss,
    }


def run() -> dict:
    return {"ingest": ingest_side_by_side(), "query": query_latency()}


def markdown(result: dict) -> str:
    ing, q = result["ingest"], result["query"]
    lines = [
        "| pipeline | ingest s (devsets/reference) | ingest peak RSS MB | query p50 ms (10k) | "
        "query p95 ms | serving peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("default", "e5-offline", "tutorial"):
        serving = f"{q[name]['rss_mb']:.0f}" if name == "default" else "(same process)"
        p50, p95 = (
            (f"{q[name]['p50_ms']:.1f}", f"{q[name]['p95_ms']:.1f}") if name in q else ("–", "–")
        )
        if name not in q:
            serving = "–"
        lines.append(
            f"| {name} | {ing[name]['seconds']:.1f} | {ing[name]['rss_mb']:.0f} | "
            f"{p50} | {p95} | {serving} |"
        )
    ratio = ing["default"]["seconds"] / ing["tutorial"]["seconds"]
    last = ing["default"]["seconds"] / ing["e5-offline"]["seconds"]
    lines.append(
        f"\nIngest time, default / tutorial: {ratio:.2f}x; default / last round's default "
        f"(e5-offline alone): {last:.2f}x; query p50, default / tutorial: "
        f"{q['default']['p50_ms'] / q['tutorial']['p50_ms']:.2f}x."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    result = run()
    print(markdown(result))
    print(json.dumps(result))
