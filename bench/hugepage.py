"""Peak memory of one huge page: a markdown file of N headings (default 20,000) through
`python -m ingest` in a child process (MiniLM, so that the model's time does not dominate),
its peak RSS and time. `python -m bench.hugepage [N] [--model NAME]`."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.defaults import child


def huge_page(folder: Path, headings: int) -> Path:
    path = folder / "docs" / "huge.md"
    path.parent.mkdir(parents=True)
    parts = [
        f"## Section {i}\n\nItem {i}: the value of setting s{i} is {i * 7}.\n"
        for i in range(headings)
    ]
    path.write_text("# Huge\n\n" + "\n".join(parts), encoding="utf-8")
    return path.parent


def run(headings: int, model: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-huge-") as tmp:
        docs = huge_page(Path(tmp), headings)
        code = (
            "import json, sys, time; from bench.common import peak_rss_mb\n"
            "from ingest.__main__ import main\n"
            "t = time.perf_counter(); main([sys.argv[1], '--db', sys.argv[2], '--json'])\n"
            "print(json.dumps({'seconds': time.perf_counter() - t, 'rss_mb': peak_rss_mb()}))"
        )
        out = child(code, str(docs), str(Path(tmp) / "huge.db"), env={"RAG_EMBEDDING_MODEL": model})
    return {"headings": headings, "model": model, **out}


def markdown(result: dict) -> str:
    return (
        f"{result['headings']:,} headings ({result['model']}): peak RSS "
        f"{result['rss_mb']:.0f} MB, {result['seconds']:.1f} s."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.hugepage", description=__doc__)
    parser.add_argument("headings", type=int, nargs="?", default=20_000)
    parser.add_argument("--model", default="minilm-offline")
    args = parser.parse_args()
    print(json.dumps(run(args.headings, args.model)))
