"""Shared helpers for the benchmarks: timing, medians, the report file, machine facts."""

from __future__ import annotations

import os
import platform
import resource
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (for a server a benchmark starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_of(fn: Callable[[], object], runs: int) -> float:
    return statistics.median(timed(fn) for _ in range(runs))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, it restarts at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def corpus_chunks(chunk_tokens: int = 200) -> list[str]:
    """The embedded texts of docs_corpus/ at the default chunk size."""
    from ingest.split import split_markdown

    texts = []
    for path in sorted((ROOT / "docs_corpus").rglob("*.md")):
        rel = path.relative_to(ROOT / "docs_corpus").as_posix()
        chunks = split_markdown(path.read_text(encoding="utf-8"), rel, chunk_tokens=chunk_tokens)
        texts += [c.embed_text for c in chunks]
    return texts


def queries() -> list[str]:
    """Query-length texts: the labeled questions (about 10 to 30 tokens each)."""
    import json

    path = ROOT / "devsets" / "sample" / "questions.jsonl"
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()]
