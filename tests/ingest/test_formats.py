"""Every format ingests and answers a question from a generated file; headings survive,
PDF passages keep their pages; broken files are reported and skipped."""

from __future__ import annotations

import pytest

from ingest.formats import DocxReader, HtmlReader, PdfReader, RstReader
from ingest.pipeline import ingest
from ingest.readers import DocError
from retrieval.access import ALL
from retrieval.search import Retriever
from retrieval.store import Store
from tests import docgen
from tests.conftest import make_settings

LEAVE = "Staff in the Porto office get twenty-six days of paid leave, booked in the Tempo tool."
VISA = "Visa letters for the Osaka conference are signed by the travel desk within four days."


@pytest.fixture(scope="module")
def formats_index(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("formats")
    docs = tmp / "docs"
    docs.mkdir()
    docgen.pdf(docs / "handbook.pdf", [
        [("h1", "Porto handbook"), ("p", "Welcome to the Porto office. " * 20)],
        [("h2", "Leave in Porto"), ("p", LEAVE), ("h2", "Parking"), ("p", "Parking is free.")],
    ])  # fmt: skip
    docgen.docx(docs / "travel.docx", [("h1", "Travel"), ("h2", "Osaka visas"), ("p", VISA)])
    (docs / "kitchen.html").write_text(
        "<html><head><script>alert('x')</script><style>p{}</style></head><body>"
        "<h1>Kitchen</h1><h2>Coffee machine</h2><p>The coffee machine on floor 3 is descaled"
        " every Friday by Marta.</p><img src='data:image/png;base64," + "A" * 200_000 + "'"
        " alt='machine photo'></body></html>"
    )
    (docs / "notes.txt").write_text("The fire drill this year is on the second Tuesday of May.\n")
    (docs / "release.rst").write_text(
        "Release guide\n=============\n\nFreezing\n--------\n\nThe code freeze starts at 17:00 "
        "on Wednesdays and is announced in the releases channel.\n"
    )
    (docs / "scanned.pdf").write_bytes(docgen.pdf(tmp / "blank.pdf", [[]]).read_bytes())
    docgen.pdf(docs / "locked.pdf", [[("p", "secret")]], password="pw")
    good = docgen.pdf(tmp / "good.pdf", [[("p", "truncated document text")]]).read_bytes()
    (docs / "truncated.pdf").write_bytes(good[: len(good) // 2])
    (docs / "fake.docx").write_text("this is not a zip")
    settings = make_settings(tmp, docs)
    store = Store(settings)
    report = ingest(settings, store, embedder)
    yield Retriever(settings, store, embedder), report
    store.close()


@pytest.mark.parametrize(
    ("question", "doc", "heading", "pages"),
    [
        ("How many days of paid leave in the Porto office?", "handbook.pdf", "Leave in Porto", "2"),
        ("Who signs visa letters for the Osaka conference?", "travel.docx", "Osaka visas", ""),
        ("When is the coffee machine descaled?", "kitchen.html", "Coffee machine", ""),
        ("When is the fire drill this year?", "notes.txt", "", ""),
        ("When does the code freeze start?", "release.rst", "Freezing", ""),
    ],
)
def test_every_format_answers_from_its_file(formats_index, question, doc, heading, pages):
    retriever, _ = formats_index
    top = retriever.search(question, k=3, access=ALL)[0]
    assert top.doc == doc
    if heading:  # the heading survived: as the chunk's heading, or inside a merged section
        assert heading in top.heading or f"# {heading}" in top.text, (top.heading, top.text)
    assert top.pages == pages
    assert "<!-- page" not in top.text and "alert(" not in top.text and "AAAA" not in top.text


def test_broken_files_are_reported_and_skipped(formats_index):
    _, report = formats_index
    failed = {f.path: f.error for f in report.docs_failed}
    assert "no text layer" in failed["scanned.pdf"]
    assert "encrypted" in failed["locked.pdf"]
    assert "damaged or truncated" in failed["truncated.pdf"]
    assert "not a zip" in failed["fake.docx"]
    assert report.docs_added == 5


def test_headings_survive_conversion():
    html = HtmlReader().read(b"<h1>A</h1><p>x</p><h3>B</h3><script>bad()</script><p>y</p>")
    assert html.splitlines()[0] == "# A" and "### B" in html and "bad()" not in html
    rst = RstReader().read(b"Top\n===\n\nSub\n---\n\ntext\n\nOther\n=====\n")
    assert [line for line in rst.splitlines() if line.startswith("#")] == [
        "# Top", "## Sub", "# Other"]  # fmt: skip


def test_pdf_headings_and_pages(tmp_path):
    path = docgen.pdf(tmp_path / "a.pdf", [
        [("h1", "Guide"), ("p", "Intro text for the guide. " * 5)],
        [("h2", "Setup"), ("p", "Run the installer. " * 5)],
    ])  # fmt: skip
    text = PdfReader().read(path.read_bytes())
    assert "# Guide" in text and "## Setup" in text
    assert text.index("<!-- page 2 -->") < text.index("## Setup")


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    import ingest.formats as formats

    monkeypatch.setattr(formats, "MAX_DOCX_UNZIPPED", 20_000_000)
    bomb = docgen.zip_bomb(tmp_path / "bomb.docx", 30)
    assert bomb.stat().st_size < 200_000
    with pytest.raises(DocError, match="zip bomb"):
        DocxReader().read(bomb.read_bytes())
