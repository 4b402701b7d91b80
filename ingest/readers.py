"""A reader per file type: bytes of a document -> markdown text, or a DocError saying why not.

Markdown is read as it is; text, HTML, PDF, DOCX, reStructuredText and picture readers live
in formats.py, spreadsheets (.xlsx, .csv) in tables.py and slide decks (.pptx) in slides.py
(one class each, listed in READERS by suffix); everything after them (splitting, embedding)
sees markdown only. Readers that may read pictures (PDF, DOCX, images) take the run's OCR
options through `reader_for`.
"""

from __future__ import annotations

from pathlib import Path

from ingest import formats, slides, tables
from ingest.ocr import IMAGE_SUFFIXES, OcrOptions
from ingest.reader_base import DocError, Reader, decode

__all__ = ["READERS", "DocError", "Reader", "decode", "reader_for"]


class MarkdownReader(Reader):
    def read(self, data: bytes) -> str:
        return decode(data)


_HTML = formats.HtmlReader()
READERS: dict[str, Reader] = {
    ".md": MarkdownReader(),
    ".markdown": MarkdownReader(),
    ".txt": formats.TextReader(),
    ".html": _HTML,
    ".htm": _HTML,
    ".pdf": formats.PdfReader(),
    ".docx": formats.DocxReader(),
    ".rst": formats.RstReader(),
    ".xlsx": tables.XlsxReader(),
    ".csv": tables.CsvReader(),
    ".pptx": slides.PptxReader(),
    **dict.fromkeys(IMAGE_SUFFIXES, formats.ImageReader()),
}


def reader_for(path: Path, ocr: OcrOptions | None = None) -> Reader:
    """The reader of a file's type (by suffix, case-insensitive), with the run's OCR options."""
    try:
        reader = READERS[path.suffix.lower()]
    except KeyError:
        raise DocError(f"no reader for {path.suffix or 'files without a suffix'}") from None
    return reader.configured(ocr) if ocr is not None else reader
