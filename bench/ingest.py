"""Ingest: full ingest of a synthetic corpus (~3,000 chunks), a no-op re-ingest, one changed doc.

Each ingest runs as `python -m ingest --json` (what an admin runs), so peak RSS is the child's.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT

WORDS = [
    "route",
    "depot",
    "stop",
    "driver",
    "vehicle",
    "planner",
    "schedule",
    "invoice",
    "customer",
    "warehouse",
    "delivery",
    "pickup",
    "window",
    "solver",
    "traffic",
    "map",
    "geocode",
    "backup",
    "restore",
    "deploy",
    "rollback",
    "incident",
    "severity",
    "page",
    "escalate",
    "budget",
    "travel",
    "hotel",
    "train",
    "flight",
    "leave",
    "holiday",
    "pension",
    "salary",
    "review",
    "laptop",
    "vpn",
    "password",
    "token",
    "printer",
    "badge",
    "office",
    "lunch",
    "tachograph",
    "telematics",
    "webhook",
    "rate",
    "limit",
]


def make_corpus(folder: Path, docs: int = 250, sections: int = 12, seed: int = 7) -> None:
    """Markdown docs whose sections become one chunk each: docs * sections chunks in all."""
    rng = random.Random(seed)
    for d in range(docs):
        path = folder / f"team{d % 10}" / f"doc{d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [f"# Runbook {d}\n"]
        for s in range(sections):
            words = " ".join(rng.choice(WORDS) for _ in range(70))
            parts.append(f"## Procedure {d}.{s}\n\n{words.capitalize()}.\n")
        path.write_text("\n".join(parts), encoding="utf-8")


def ingest(corpus: Path, db: str) -> dict:
    """Run `python -m ingest --json` in a child; adds the child's peak RSS to its summary."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_EMBEDDING_MODEL": "minilm-offline"}
    code = (
        "import sys; from bench.common import peak_rss_mb; from ingest.__main__ import main; "
        "code = main(sys.argv[1:]); print(peak_rss_mb(), file=sys.stderr); sys.exit(code)"
    )
    command = [sys.executable, "-c", code, str(corpus), "--db", db, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return {**json.loads(done.stdout), "peak_rss_mb": float(done.stderr.split()[-1])}


def run(runs: int = 3) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        corpus, db = Path(tmp) / "docs", str(Path(tmp) / "bench.db")
        make_corpus(corpus)
        full = ingest(corpus, db)
        rss = full["peak_rss_mb"]
        noops = [ingest(corpus, db) for _ in range(runs)]
        changes = []
        for i in range(runs):
            with open(corpus / "team3" / "doc3.md", "a", encoding="utf-8") as handle:
                handle.write(f"\nEdited paragraph number {i} about depot rollbacks.\n")
            changes.append(ingest(corpus, db))
    noop_s = statistics.median(r["seconds"] for r in noops)
    change_s = statistics.median(r["seconds"] for r in changes)
    return {
        "chunks": full["chunks_total"],
        "full_s": full["seconds"],
        "noop_s": noop_s,
        "noop_share": noop_s / full["seconds"],
        "noop_embedded": max(r["chunks_embedded"] for r in noops),
        "change_s": change_s,
        "change_embedded": statistics.median(r["chunks_embedded"] for r in changes),
        "peak_rss_mb": rss,
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def markdown(r: dict[str, float]) -> str:
    noop_ok = r["noop_share"] <= 0.02 and r["noop_embedded"] == 0
    return "\n".join(
        [
            "| step | seconds | figure | goal |",
            "|---|---|---|---|",
            f"| full ingest, {r['chunks']} chunks | {r['full_s']:.1f} | "
            f"{r['chunks'] / r['full_s']:.0f} chunks/s | - |",
            f"| no-op re-ingest (median) | {r['noop_s']:.2f} | {r['noop_share']:.2%} of full, "
            f"{r['noop_embedded']} embedded | <= 2%, 0 embedded: {verdict(noop_ok)} |",
            f"| one changed doc (median) | {r['change_s']:.2f} | "
            f"{r['change_embedded']:.0f} embedded | <= 3 s: {verdict(r['change_s'] <= 3)} |",
            f"| peak RSS of the ingest process | - | {r['peak_rss_mb']:.0f} MB | - |",
        ]
    )


if __name__ == "__main__":
    print(markdown(run()))
