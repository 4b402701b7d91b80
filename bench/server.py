"""The server path with its recall: index parameters on a real Milvus standalone at SIZE chunks.

The same vectors and questions as `bench.search`, dense only (Milvus 2.3.5, the standalone
server the tests start, has no BM25). The rows are written once, as ingest writes them; then
the vector index is rebuilt in turn as FLAT (exact), HNSW at M 16 and M 32 (efConstruction
200) and IVF_FLAT (nlist 1024 and 256), and searched at each search setting (HNSW `ef`,
IVF `nprobe`): one dense search per question and passage language, under the language
filter, as the retriever sends it (`store.dense_search`, the query vector weighed for the
language pair). Printed side by side: recall@10 against exact search per language, p50/p95
of that one search, the index's build time, and the floor (exact numpy inner products over
the same language's vectors, in-process). Measured at 100k: docs/evaluation.md#performance.

    python -m bench.server [SIZE] [QUESTIONS]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import free_port, percentile
from bench.search import REAL, base_vectors, build, grow, questions, sentences
from retrieval.access import ALL
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.store.schema import build_params
from retrieval.tokens import language

MILVUS_SERVER = Path(sys.executable).with_name("milvus-server")
LANGS = ("en", "zh")


@dataclass(frozen=True)
class Sweep:
    """One vector index, built once, and the search settings tried on it."""

    label: str
    build: dict  # Settings fields for the index (index_type and its build parameters)
    searches: tuple[dict, ...]  # Settings fields for each search setting


SWEEPS = (
    Sweep("FLAT", {"index_type": "FLAT"}, ({},)),
    Sweep("HNSW M 16", {"index_type": "HNSW", "hnsw_m": 16},
          tuple({"hnsw_ef": ef} for ef in (128, 512, 2048))),
    Sweep("HNSW M 32", {"index_type": "HNSW", "hnsw_m": 32},
          tuple({"hnsw_ef": ef} for ef in (512, 2048))),
    Sweep("IVF_FLAT nlist 1024", {"index_type": "IVF_FLAT", "ivf_nlist": 1024},
          tuple({"ivf_nprobe": n} for n in (64, 256, 512))),
    Sweep("IVF_FLAT nlist 256", {"index_type": "IVF_FLAT", "ivf_nlist": 256},
          tuple({"ivf_nprobe": n} for n in (32, 64, 128))),
)  # fmt: skip


def settings_for(uri: str, **extra) -> Settings:
    values = {"embedding_model": "blend-offline", "search_mode": "dense", **extra}
    return Settings(_env_file=None, store_uri=uri, resident_max_chunks=0, **values)


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


def wait_indexed(store: Store, name: str, timeout_s: float = 3600) -> None:
    """Until the server has built the index over every row (before that it searches an
    interim index, and recall says nothing about the index asked for)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        index = store.client.describe_index(name, "vector")
        if index.get("pending_index_rows", 0) == 0 and index.get("indexed_rows", 0) >= int(
            index.get("total_rows", 0)
        ):
            return
        time.sleep(2)
    raise RuntimeError(f"index not built in {timeout_s:.0f} s")


def reindex(uri: str, settings: Settings) -> float:
    """The live collection's vector index rebuilt as `settings` asks; seconds it took."""
    store = Store(settings_for(uri))
    name, client = store.live_collection(), store.client
    start = time.perf_counter()
    client.release_collection(name)
    client.drop_index(name, "vector")
    index = client.prepare_index_params()
    params = build_params(settings.index_type, settings)
    index.add_index("vector", index_type=settings.index_type, metric_type="IP", params=params)
    client.create_index(name, index)
    wait_indexed(store, name)
    client.load_collection(name)
    store.close()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Probe:
    """Each question's query vector for each passage language, and the exact top 10."""

    vectors: dict[str, list[list[float]]]
    exact: dict[str, list[set[str]]]
    floor: list[float]  # seconds of exact numpy search, per question and language


def probe(retriever: Retriever, vectors: np.ndarray, ids: list[str], texts, asked) -> Probe:
    langs = np.array([language(t) for t in texts])
    parts = {lang: (vectors[langs == lang], np.asarray(ids)[langs == lang]) for lang in LANGS}
    queries = retriever.embedder.embed_queries(asked)
    out, exact, floor = {lang: [] for lang in LANGS}, {lang: [] for lang in LANGS}, []
    for q, vector in zip(asked, queries, strict=True):
        for lang in LANGS:
            weighted = retriever._weighted(vector, language(q), lang)
            start = time.perf_counter()
            rows, row_ids = parts[lang]
            scores = rows @ np.asarray(weighted, dtype=np.float32)
            top = np.argpartition(-scores, 10)[:10]
            floor.append(time.perf_counter() - start)
            out[lang].append(weighted)
            exact[lang].append(set(row_ids[top]))
    return Probe(out, exact, floor)


def measure(uri: str, settings: Settings, at_probe: Probe) -> dict:
    """Recall@10 per language and p50/p95 of one dense search, at these search settings."""
    store = Store(settings)
    at = store.snapshot(access=ALL)
    store.dense_search(at_probe.vectors["en"][0], 10, at, "en")  # warm
    recall, times = {}, []
    for lang in LANGS:
        found = []
        for weighted, exact in zip(at_probe.vectors[lang], at_probe.exact[lang], strict=True):
            start = time.perf_counter()
            hits = store.dense_search(weighted, 10, at, lang)
            times.append(time.perf_counter() - start)
            found.append(len({h.chunk_id for h in hits} & exact) / 10)
        recall[lang] = float(np.mean(found))
    store.close()
    return {"recall": recall, "p50": percentile(times, 50) * 1000,
            "p95": percentile(times, 95) * 1000}  # fmt: skip


def search_label(search: dict) -> str:
    return ", ".join(f"{k.split('_')[-1]} {v}" for k, v in search.items()) or "-"


def run(size: int = 100_000, count: int = 50) -> list[dict]:
    from retrieval.embeddings import load_embedder

    embedder = load_embedder(settings_for("unused.db"))
    base = sentences(REAL)
    vectors, texts = grow(base_vectors(embedder, base), base, size)
    asked = questions()[:count]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        server = Standalone(Path(tmp))
        try:
            server.wait()
            start = time.perf_counter()
            ids = build(server.uri, vectors, texts, embedder.name, search_mode="dense",
                        resident_max_chunks=0)  # fmt: skip
            print(f"{size:,} rows written in {time.perf_counter() - start:.0f} s", flush=True)
            retriever = Retriever(settings_for(server.uri), embedder=embedder)
            at_probe = probe(retriever, vectors, ids, texts, asked)
            retriever.close()
            floor = (percentile(at_probe.floor, 50) * 1000, percentile(at_probe.floor, 95) * 1000)
            for sweep in SWEEPS:
                built = reindex(server.uri, settings_for(server.uri, **sweep.build))
                for search in sweep.searches:
                    got = measure(server.uri, settings_for(server.uri, **sweep.build, **search),
                                  at_probe)  # fmt: skip
                    row = {"chunks": size, "index": sweep.label, "search": search_label(search),
                           "build_s": built, "floor": floor, **got}  # fmt: skip
                    print(line(row), flush=True)
                    rows.append(row)
        finally:
            server.stop()
    return rows


HEADER = (
    "| chunks | index | search | build s | recall@10 en | recall@10 zh | p50 ms | p95 ms | "
    "floor p50 / p95 ms |\n|---|---|---|---|---|---|---|---|---|"
)


def line(r: dict) -> str:
    return (
        f"| {r['chunks']:,} | {r['index']} | {r['search']} | {r['build_s']:.0f} | "
        f"{r['recall']['en']:.3f} | {r['recall']['zh']:.3f} | {r['p50']:.1f} | {r['p95']:.1f} | "
        f"{r['floor'][0]:.1f} / {r['floor'][1]:.1f} |"
    )


def markdown(rows: list[dict]) -> str:
    return "\n".join([HEADER, *(line(r) for r in rows)])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    size = int(args[0]) if args else 100_000
    count = int(args[1]) if len(args) > 1 else 50
    print(markdown(run(size, count)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
