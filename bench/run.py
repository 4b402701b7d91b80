"""`make bench`: every benchmark, side by side, written to bench/RESULTS.md.

python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import (
    answers,
    chats,
    defaults,
    embedding,
    formats,
    hugepage,
    ingest,
    load,
    ocr,
    query_model,
    scaling,
    search,
    server,
    ttft,
)
from bench.common import ROOT, machine


def about(module) -> str:
    """A benchmark's docstring without its usage line."""
    return module.__doc__.strip().split("\n\n    python -m")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 100k-chunk sizes")
    args = parser.parse_args(argv)
    started = time.time()
    sections = []

    def section(title: str, intro: str, body: str) -> None:
        sections.append(f"## {title}\n\n{intro}\n\n{body}\n")
        print(f"\n## {title}\n{body}", flush=True)

    section(
        "Embedding",
        "Our batched encoder vs pymilvus's `OnnxEmbeddingFunction` (what `DefaultEmbeddingFunction`"
        " runs) on the same ONNX file and tokenizer (all-MiniLM-L6-v2 int8), median of 3 runs.",
        embedding.markdown(embedding.run()),
    )
    section(
        "Ingest",
        "A synthetic corpus of 250 docs x 12 sections, through `python -m ingest --json`.",
        ingest.markdown(ingest.run()),
    )
    section(
        "Default against the tutorial pipeline",
        defaults.__doc__.strip(),
        defaults.markdown(defaults.run()),
    )
    sizes = search.SIZES[:2] if args.quick else search.SIZES
    section("Search against its floor", about(search), search.markdown(search.run(sizes)))
    if not args.quick:
        section("Past Milvus Lite", about(server), server.markdown(server.run()))
    section("Ingest against its embedder", about(scaling), scaling.markdown(scaling.run()))
    section(
        "Time to first token",
        "Against the test LLM server on 127.0.0.1 over an index of docs_corpus/.",
        ttft.markdown(ttft.measure(30), 30),
    )
    section(
        "Answers with a local model",
        about(answers),
        answers.markdown(answers.measure(1)),
    )
    section(
        "The query model's added wait", about(query_model), query_model.markdown(query_model.run())
    )
    section("Chat store", chats.__doc__.strip(), chats.markdown(chats.run()))
    section("PDF against markdown ingest", formats.__doc__.strip(), formats.markdown(formats.run()))
    ocr_rows = ocr.accuracy(2)
    section("OCR", about(ocr), ocr.markdown(ocr_rows, ocr.memory(50)))
    section("API under load", load.__doc__.strip(), load.markdown(load.run()))
    section("One huge page", hugepage.__doc__.strip(), hugepage.markdown(hugepage.run(20_000)))
    minutes = (time.time() - started) / 60
    header = (
        f"# Benchmark results\n\nGenerated {time.strftime('%Y-%m-%d %H:%M %Z')} on {machine()} by "
        f"`python -m bench.run{' --quick' if args.quick else ''}` (`make bench`), "
        f"{minutes:.1f} minutes.\n\nEvery ratio compares figures measured in the same run.\n"
    )
    (ROOT / "bench" / "RESULTS.md").write_text(header + "\n" + "\n".join(sections), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
