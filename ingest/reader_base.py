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
