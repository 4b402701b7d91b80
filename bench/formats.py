"""PDF ingest against markdown ingest of the same text: 100 generated PDFs of 10 pages
(a heading and three paragraphs a page, reportlab) and the same text as 100 markdown files,
each through `python -m ingest --json` into a fresh index (MiniLM), peak RSS of the child.
The conversion alone (pypdf, every page) is timed apart. Goal: PDF ingest within 2x markdown."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.ingest import ingest
from ingest.formats import PdfReader

WORDS = [
    "invoice",
    "shipment",
    "customs",
    "pallet",
    "warehouse",
    "carrier",
    "route",
    "manifest",
    "freight",
    "depot",
    "schedule",
    "driver",
    "cargo",
    "container",
    "dock",
    "label",
    "scanner",
    "tariff",
    "broker",
    "insurance",
]
DOCS, PAGES = 100, 10


def page_text(rng: random.Random, doc: int, page: int) -> tuple[str, list[str]]:
    heading = f"Section {doc}.{page} {rng.choice(WORDS).title()} {rng.choice(WORDS)}"
    paragraphs = [" ".join(rng.choice(WORDS) for _ in range(70)) + "." for _ in range(3)]
    return heading, paragraphs


def make(folder: Path) -> tuple[Path, Path]:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdfs, mds = folder / "pdf", folder / "md"
    pdfs.mkdir()
    mds.mkdir()
    rng = random.Random(11)
    for doc in range(DOCS):
        pdf = canvas.Canvas(str(pdfs / f"doc{doc:03}.pdf"), pagesize=A4)
        md = [f"# Manual {doc}"]
        for page in range(PAGES):
            heading, paragraphs = page_text(rng, doc, page)
            md += [f"## {heading}", *paragraphs]
            y = 800
            pdf.setFont("Helvetica-Bold", 15)
            pdf.drawString(40, y, heading)
            pdf.setFont("Helvetica", 9)
            for paragraph in paragraphs:
                y -= 24
                words = paragraph.split()
                for start in range(0, len(words), 14):
                    pdf.drawString(40, y, " ".join(words[start : start + 14]))
                    y -= 12
            pdf.showPage()
        pdf.save()
        (mds / f"doc{doc:03}.md").write_text("\n\n".join(md) + "\n")
    return pdfs, mds


def run() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        pdfs, mds = make(Path(tmp))
        start = time.perf_counter()
        reader = PdfReader()
        for path in sorted(pdfs.iterdir()):
            reader.read(path.read_bytes())
        convert_s = time.perf_counter() - start
        results = {}
        for name, folder in (("markdown", mds), ("pdf", pdfs)):
            summary = ingest(folder, str(Path(tmp) / f"{name}.db"))
            results[name] = {"seconds": summary["seconds"], "rss": summary["peak_rss_mb"],
                             "chunks": summary["chunks_total"]}  # fmt: skip
        results["pdf"]["convert"] = convert_s
        return results


def markdown(r: dict[str, dict[str, float]]) -> str:
    ratio = r["pdf"]["seconds"] / r["markdown"]["seconds"]
    rows = [
        "| input | ingest s | peak RSS MB | chunks |",
        "|---|---|---|---|",
        *(
            f"| {name} | {v['seconds']:.1f} | {v['rss']:.0f} | {v['chunks']:.0f} |"
            for name, v in r.items()
        ),  # fmt: skip
        "",
        f"PDF / markdown ingest time: **{ratio:.2f}x** (goal at most 2x); of the PDF ingest, "
        f"{r['pdf']['convert']:.1f} s is the conversion of {DOCS * PAGES} pages.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown(run()))
