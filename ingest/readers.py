"""A reader per file type: bytes of a document -> markdown text, or a DocError saying why not.

Markdown is read as it is; text, HTML, PDF, DOCX and reStructuredText readers live in
formats.py (one class each, listed in READERS by suffix), and everything after them
(splitting, embedding) sees markdown only.
"""

from __future__ import annotations

from pathlib import Path

from ingest import formats
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
}


def reader_for(path: Path) -> Reader:
    """The reader of a file's type (by suffix, case-insensitive)."""
    try:
        return READERS[path.suffix.lower()]
    except KeyError:
        raise DocError(f"no reader for {path.suffix or 'files without a suffix'}") from None
