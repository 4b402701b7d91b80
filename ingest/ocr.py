"""Text from pictures of text: scanned pages, screenshots, photos of notices.

RapidOCR (PP-OCRv4 Chinese + English detection and recognition, ONNX models inside its wheel)
finds the lines; `page_text` puts them in reading order (rows top to bottom, each row left to
right) and groups rows into paragraphs by the gaps between them and by indents. The engine is
loaded once per process, on the first picture. Each picture's text is cached by the hash of
its bytes beside the index, so a sync re-reads only new scans; a file whose pictures exceed
the page or time budget is refused whole (its finished pages stay cached for the next sync).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.reader_base import DocError

OCR_VERSION = "rapidocr-1.4.4:paragraphs-1:no-cls:1600"  # part of each cache key: a change re-reads
MAX_PIXELS = 60_000_000  # a picture larger than this is refused (decompression bombs)
MAX_SIDE = 1600  # pictures are scaled to this long side first (2,000: 737 MB peak, 1,600: 540)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class OcrOptions:
    """Whether pictures are read, within which budget per file, and where results are kept."""

    enabled: bool = True
    max_pages: int = 50  # pictures (pages) one file may need read
    max_seconds: float = 600.0  # time one file's OCR may take
    cache_dir: Path | None = None


def ocr_options(settings) -> OcrOptions:
    """The settings' OCR switch and budgets; results cached beside the index."""
    return OcrOptions(
        settings.ocr, settings.ocr_max_pages, settings.ocr_max_seconds,
        settings.data_dir() / "ocr-cache",
    )  # fmt: skip


@dataclass(frozen=True)
class Line:
    """One recognised line and its box (pixels, top-left origin)."""

    text: str
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass
class OcrRun:
    """One file's OCR: its budget, and what it did (pages read now or from the cache)."""

    options: OcrOptions
    name: str = "file"
    pages: int = 0
    cached: int = 0
    seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def check(self, needed: int) -> None:
        """Refuse a file needing more pictures read than the budget allows (before any)."""
        if not self.options.enabled:
            raise DocError(f"{self.name} needs OCR, which is off (RAG_OCR=false)")
        if needed > self.options.max_pages:
            raise DocError(
                f"{self.name} needs OCR on {needed} pages; the limit is "
                f"{self.options.max_pages} a file (RAG_OCR_MAX_PAGES): not indexed"
            )

    def read(self, picture: bytes | object, index: int, total: int) -> str:
        """One picture's text (paragraphs split by blank lines; '' when none was found)."""
        key = _key(picture)
        if (found := _cached(self.options.cache_dir, key)) is not None:
            self.cached += 1
            return found
        spent = time.monotonic() - self.started
        if spent > self.options.max_seconds:
            raise DocError(
                f"OCR of this {self.name} took over {self.options.max_seconds:.0f} s "
                f"(RAG_OCR_MAX_SECONDS) and stopped at page {index} of {total}: not indexed; "
                "the pages read so far are kept for the next sync"
            )
        began = time.perf_counter()
        text = page_text(recognise(to_image(picture)))
        self.seconds += time.perf_counter() - began
        self.pages += 1
        _store(self.options.cache_dir, key, text)
        return text


@functools.cache
def engine():
    """The OCR engine, loaded on first use and kept for the life of the process."""
    from rapidocr_onnxruntime import RapidOCR

    # No line-angle classifier: it squeezes a whole line into 192x48 pixels and, on clean
    # long lines, calls some of them upside down; turned over, they read as noise and drop out.
    # MAX_SIDE: the detector's activations on a 300 dpi A4 page scaled to 2,000 px made the
    # peak; at 1,600 px (137 dpi for A4) 10.5 pt text still reads (bench/ocr.py measures both).
    return RapidOCR(print_verbose=False, use_cls=False, max_side_len=MAX_SIDE)


def to_image(picture: bytes | object):
    """An RGB picture from encoded bytes (or a PIL image), transparency laid on white."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(picture, bytes):
        try:
            picture = Image.open(io.BytesIO(picture))
            picture.load()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DocError(f"not a readable image ({type(exc).__name__}: {exc})") from None
        except Image.DecompressionBombError:
            raise DocError("image too large to read (decompression bomb?)") from None
    if picture.width * picture.height > MAX_PIXELS:
        raise DocError(f"image of {picture.width}x{picture.height} pixels is too large to read")
    if picture.mode in ("RGBA", "LA", "P", "PA"):
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = Image.alpha_composite(white, rgba)
    return picture.convert("RGB")


def recognise(image) -> list[Line]:
    """The lines the engine finds in a picture (RGB PIL image)."""
    import numpy as np
    from PIL import Image

    if (scale := MAX_SIDE / max(image.size)) < 1:  # here, not in the engine: no full-size copies
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.BILINEAR)
    found, _ = engine()(np.ascontiguousarray(np.asarray(image)[:, :, ::-1]))  # it wants BGR
    lines = []
    for box, text, _score in found or []:
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        if text.strip():
            lines.append(Line(text.strip(), min(xs), min(ys), max(xs), max(ys)))
    return lines


def rows(lines: Iterable[Line]) -> list[list[Line]]:
    """Lines grouped into rows (boxes overlapping vertically), top to bottom, left to right."""
    grouped: list[list[Line]] = []
    for line in sorted(lines, key=lambda x: x.middle):
        row = grouped[-1] if grouped else None
        if (
            row
            and abs(line.middle - statistics.fmean(x.middle for x in row))
            < min(line.height, min(x.height for x in row)) * 0.5
        ):
            row.append(line)
        else:
            grouped.append([line])
    return [sorted(row, key=lambda x: x.left) for row in grouped]


def page_text(lines: list[Line]) -> str:
    """Lines in reading order, rows joined into paragraphs: a new paragraph after a gap
    larger than a line's height, at an indented row, or after a row ending well short of
    the text's right edge."""
    found = rows(lines)
    if not found:
        return ""
    height = statistics.median(x.height for x in lines)
    left = min(x.left for x in lines)
    right = max(x.right for x in lines)
    paragraphs: list[list[str]] = [[]]
    previous: list[Line] | None = None
    for row in found:
        if previous is not None and _breaks(previous, row, height, left, right):
            paragraphs.append([])
        paragraphs[-1].append(_join([x.text for x in row], " "))
        previous = row
    return "\n\n".join(_join(p, " ") for p in paragraphs if p)


def _breaks(previous: list[Line], row: list[Line], height: float, left: float, right: float):
    gap = min(x.top for x in row) - max(x.bottom for x in previous)
    indented = row[0].left - left > 1.5 * height
    short = right - previous[-1].right > 0.25 * (right - left)
    return gap > 0.8 * height or indented or short


def _join(parts: list[str], space: str) -> str:
    """Pieces of text joined by a space, except between two CJK characters."""
    out = ""
    for part in parts:
        if out and not (_cjk(out[-1]) and _cjk(part[0])):
            out += space
        out += part
    return out


def _cjk(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or char >= "\uff00"


def _key(picture: bytes | object) -> str:
    digest = hashlib.sha256(OCR_VERSION.encode())
    if isinstance(picture, bytes):
        digest.update(picture)
    else:
        digest.update(f"{picture.mode}:{picture.size}".encode())
        digest.update(picture.tobytes())
    return digest.hexdigest()


def _cached(folder: Path | None, key: str) -> str | None:
    if folder is None:
        return None
    try:
        return json.loads((folder / key[:2] / f"{key}.json").read_text("utf-8"))["text"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(folder: Path | None, key: str, text: str) -> None:
    if folder is None:
        return
    from retrieval.files import write_atomic

    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        write_atomic(folder / key[:2] / f"{key}.json", json.dumps({"text": text}))


def frames(image) -> Iterator[object]:
    """Each frame of a (multi-page TIFF) picture."""
    from PIL import ImageSequence

    yield from ImageSequence.Iterator(image)
