"""What every reader is: bytes of a document -> markdown, or a DocError saying why not."""

from __future__ import annotations

from abc import ABC, abstractmethod


class DocError(ValueError):
    """A document that cannot be ingested; reported and skipped."""


class Reader(ABC):
    """Turns one file type into markdown."""

    @abstractmethod
    def read(self, data: bytes) -> str:
        """The document as markdown; raise DocError for a file that cannot be read."""

    def configured(self, ocr) -> Reader:
        """This reader with the OCR options (`ingest.ocr.OcrOptions`) of a run; readers that
        never read pictures return themselves."""
        return self


class Text(str):
    """Decoded text that remembers the encoding it was read in."""

    encoding: str = "utf-8"
    ocr_pages: int = 0  # pictures (pages, images) read with OCR for it just now
    ocr_cached: int = 0  # pictures whose text came from the OCR cache
    ocr_seconds: float = 0.0  # time the OCR took

    @classmethod
    def of(cls, text: str, encoding: str) -> Text:
        made = cls(text)
        made.encoding = encoding
        return made


#: Legacy encodings Chinese (and Japanese) offices still write, tried when a file is not UTF-8.
LEGACY = ("gb18030", "big5", "shift_jis")
#: A declared name -> the codec that reads it without refusing its common extensions.
WIDER = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
         "big5-hkscs": "big5hkscs", "sjis": "shift_jis", "x-sjis": "shift_jis"}  # fmt: skip


def decode(data: bytes, declared: str | None = None) -> Text:
    """UTF-8 (BOM allowed), BOM-marked UTF-16, the `declared` charset (an HTML page's), or the
    legacy encoding a detector finds most plausible (GB18030 / GBK / GB2312, Big5, Shift-JIS).
    A file that no candidate decodes cleanly is refused, never read as mojibake."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _strict(data, "utf-16")
    if b"\x00" in data:
        raise DocError("binary file (contains NUL bytes)")
    try:
        return Text.of(data.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    if declared:
        codec = WIDER.get(declared.lower(), declared.lower())
        try:
            return Text.of(data.decode(codec), codec)
        except (UnicodeDecodeError, LookupError):
            pass  # a wrong declaration: detect instead
    return _detected(data, first_bad)


def _strict(data: bytes, encoding: str) -> Text:
    try:
        return Text.of(data.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        raise DocError(f"not valid {encoding.upper()} (byte {exc.start})") from None


def _detected(data: bytes, first_bad: int) -> Text:
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=list(LEGACY)).best()
    if best is None or best.chaos > 0.2:
        raise DocError(
            f"not valid UTF-8 (byte {first_bad}) and not clean GB18030, Big5 or Shift-JIS "
            "either; re-save it as UTF-8"
        )
    return Text.of(str(best), best.encoding)
