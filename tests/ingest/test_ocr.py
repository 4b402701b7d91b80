"""Pictures of text are read: a screenshot, a scanned Chinese page inside a PDF with a text
page (page numbers kept), a screenshot pasted into a DOCX, in reading order and paragraphs; an
image with no text and a file that is no image are reported; the budget refuses a file whole;
a second sync reads nothing again; OCR off reports what it did not read. OCR is slow on 2
cores: one fixture reads the three pictures once for the whole module."""

from __future__ import annotations

import pytest

from ingest.formats import ImageReader
from ingest.ocr import Line, OcrOptions, page_text, recognise
from ingest.pipeline import ingest, scan
from ingest.reader_base import DocError
from ingest.syncstatus import SyncStatus
from retrieval.access import ALL
from retrieval.search import Retriever
from retrieval.store import Store
from tests.conftest import make_settings
from tests.ingest import officegen

WIFI = ["Guest Wi-Fi: the network is Harbour-Guest,", "and its password changes every Monday."]
NOTICE = ["分公司通知", "自三月起，深圳办公室的门禁卡", "统一在二楼前台领取。"]
PRINTER = ["Printer queue: choose Floor2-Colour,", "then press Save."]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("ocr")
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "screenshot.png").write_bytes(officegen.png(officegen.text_image(WIFI, 26, 760)))
    page = officegen.text_image(NOTICE, 30, 620)
    officegen.scanned_pdf(docs / "notice.pdf", ["Branch office notices, 2026", page])
    printer = officegen.text_image(PRINTER, 26, 700)
    officegen.docx_with_picture(docs / "howto.docx", "Printing", "Add it like this:", printer)
    (docs / "blank.png").write_bytes(officegen.png(officegen.text_image([], 20, 300)))
    (docs / "photo.jpg").write_bytes(b"this is not a picture")
    settings = make_settings(tmp, docs, chunk_tokens=40, min_chunk_tokens=0)  # a chunk a page
    store = Store(settings)
    first = ingest(settings, store, embedder)
    again = ingest(settings, store, embedder)
    yield settings, store, Retriever(settings, store, embedder), first, again
    store.close()


def test_a_screenshot_answers_with_its_text(scanned):
    _, _, retriever, first, _ = scanned
    hits = retriever.search("What is the guest Wi-Fi network called?", k=3, access=ALL)
    top = next(h for h in hits if h.lang == "en")  # the Chinese scan is ranked apart
    assert top.doc == "screenshot.png" and "Harbour" in top.text, top
    assert "password changes every Monday" in top.text.replace("  ", " ")


def test_a_picture_in_a_docx_is_read_where_it_stands(scanned):
    _, _, retriever, _, _ = scanned
    hits = retriever.search("Which printer queue do I choose?", k=3, access=ALL)
    top = next(h for h in hits if h.lang == "en")
    assert top.doc == "howto.docx" and top.heading == "Printing", top
    assert top.text.index("Add it like this:") < top.text.index("Floor2-Colour")


def test_a_scanned_page_keeps_its_page_number(scanned):
    _, _, retriever, _, _ = scanned
    hits = retriever.search("深圳办公室的门禁卡在哪里领取", k=5, access=ALL)
    scan = next(h for h in hits if h.doc == "notice.pdf" and "门禁卡" in h.text)
    assert scan.pages == "2" and "前台领取" in scan.text


def test_reports_say_what_ocr_did_and_what_it_could_not(scanned):
    _, _, _, first, again = scanned
    failed = {f.path: f.error for f in first.docs_failed}
    assert "no text found in the image" in failed["blank.png"]
    assert "not a readable image" in failed["photo.jpg"]
    assert first.ocr_pages == 3 and first.ocr_seconds > 0
    assert any(n.startswith("OCR read 3 pages in 3 files") for n in first.notices)
    assert "3 pages OCR'd in" in SyncStatus.of(first, "once").changes
    assert again.ocr_pages == 0 and again.docs_unchanged == 3  # read from the cache
    assert not any(n.startswith("OCR") for n in again.notices)
    assert "OCR" not in SyncStatus.of(again, "once").changes


def test_ocr_off_reports_pictures_and_keeps_text_pages(scanned):
    settings, *_ = scanned
    docs, failed = scan(settings.docs_dir, 5_000_000, ocr=OcrOptions(enabled=False))
    why = {f.path: f.error for f in failed}
    assert "OCR, which is off" in why["screenshot.png"]
    notice = next(d for d in docs if d.path == "notice.pdf")
    assert "Branch office notices" in notice.text and "门禁卡" not in notice.text


def test_a_file_over_the_budget_is_refused_whole(tmp_path):
    frames = [officegen.text_image(["page one"]), officegen.text_image(["page two"])]
    frames[0].save(tmp_path / "two.tif", save_all=True, append_images=frames[1:])
    data = (tmp_path / "two.tif").read_bytes()
    with pytest.raises(DocError, match="needs OCR on 2 pages; the limit is 1"):
        ImageReader(OcrOptions(max_pages=1)).read(data)
    with pytest.raises(DocError, match="RAG_OCR_MAX_SECONDS.*page 1 of 2: not indexed"):
        ImageReader(OcrOptions(max_seconds=1e-9)).read(data)


def line(text: str, left: float, top: float, width: float = 300, height: float = 20) -> Line:
    return Line(text, left, top, left + width, top + height)


def test_lines_are_put_in_reading_order_and_paragraphs():
    lines = [  # given out of order, as a detector may find them
        line("right cell", 400, 102, 100),
        line("第二段缩进开始，", 90, 190, 410),
        line("the first paragraph", 40, 70, 460),
        line("left cell", 40, 100),
        line("Title", 40, 20, 100),
        line("接着写完。", 40, 214, 100),
        line("goes on here.", 40, 130, 200),
    ]
    assert page_text(lines).split("\n\n") == [
        "Title",
        "the first paragraph left cell right cell goes on here.",
        "第二段缩进开始，接着写完。",
    ]


def test_a_clean_long_line_is_not_read_upside_down():
    """PP-OCR's line-angle classifier called this clean line upside down, which dropped it."""
    text = "route leave in rooms system after every two every reception ends requests."
    found = recognise(officegen.text_image([text], 22, 1100))
    assert "".join(x.text for x in found).replace(" ", "") == text.replace(" ", "")
