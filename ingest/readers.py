"""A reader per file type: bytes of a document -> markdown text, or a DocError saying why not.

Markdown is read as it is; HTML, PDF and DOCX readers plug in here (one class each, listed in
READERS by suffix), and everything after them (splitting, embedding) sees markdown only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path


class DocError(ValueError):
    """A document that cannot be ingested; reported and skipped."""


class Reader(ABC):
    """Turns one file type into markdown."""

    @abstractmethod
    def read(self, data: bytes) -> str:
        """The document as markdown; raise DocError for a file that cannot be read."""


def decode(data: bytes) -> str:
    """UTF-8 (BOM allowed) or BOM-marked UTF-16; anything else is refused."""
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not utf16 and b"\x00" in data:
        raise DocError("binary file (contains NUL bytes)")
    encoding = "utf-16" if utf16 else "utf-8"
    try:
        return data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocError(
            f"not valid {encoding.upper()} (byte {exc.start}); re-save as UTF-8"
        ) from None


class MarkdownReader(Reader):
    def read(self, data: bytes) -> str:
        return decode(data)


READERS: dict[str, Reader] = {".md": MarkdownReader(), ".markdown": MarkdownReader()}


def _more_formats() -> None:
    """The other formats (ingest/formats.py), registered by suffix."""
    from ingest import formats

    html = formats.HtmlReader()
    READERS.update({".txt": formats.TextReader(), ".html": html, ".htm": html,
                    ".pdf": formats.PdfReader(), ".docx": formats.DocxReader(),
                    ".rst": formats.RstReader()})  # fmt: skip


_more_formats()


def reader_for(path: Path) -> Reader:
    """The reader of a file's type (by suffix, case-insensitive)."""
    try:
        return READERS[path.suffix.lower()]
    except KeyError:
        raise DocError(f"no reader for {path.suffix or 'files without a suffix'}") from None
