"""Readers for the formats teams keep besides markdown: text, HTML, PDF, DOCX, reStructuredText.

Each turns a file into markdown whose headings survive, so heading-aware chunking still works:
- HTML: scripts, styles, forms and inline images dropped (BeautifulSoup), the rest converted
  by markdownify with ATX headings;
- DOCX: mammoth maps Word's Heading styles to <h1>..<h6>, then as HTML;
- PDF: pypdf, text per page with the font size of each run; lines set clearly larger than the
  body text become headings (largest first), and every page starts with a page marker that
  chunking turns into the chunk's page numbers;
- reStructuredText: section titles (a line underlined with = - ~ ...) become headings.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import Counter

from ingest.ocr import OcrOptions, OcrRun, frames
from ingest.reader_base import DocError, Reader, Text, decode

PAGE_MARK = "<!-- page {n} -->"
PAGE_MARK_RE = re.compile(r"<!-- page (\d+) -->\n?")
MAX_PAGES = 2_000
MAX_DOCX_UNZIPPED = 200_000_000  # bytes: a zip bomb is refused before it is inflated


class TextReader(Reader):
    """Plain text is markdown without markup; kept as written."""

    def read(self, data: bytes) -> str:
        return decode(data)


class HtmlReader(Reader):
    """HTML in the charset it declares (`<meta charset>`), else as any text file is read."""

    def read(self, data: bytes) -> str:
        from bs4.dammit import EncodingDetector

        declared = EncodingDetector.find_declared_encoding(data[:4096], is_html=True)
        text = decode(data, declared)
        return Text.of(html_to_markdown(text), text.encoding)


def html_to_markdown(html: str) -> str:
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "form", "svg"]):
        tag.decompose()
    for image in soup.find_all("img"):
        alt = image.get("alt") or ""
        image.replace_with(alt)  # inline images (data: URIs of megabytes) never reach the text
    body = soup.body or soup
    text = markdownify(str(body), heading_style="ATX", bullets="-", strip=["a"])
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


class DocxReader(Reader):
    """Word's text with its heading styles; with OCR on, the text found in its pictures (a
    screenshot pasted into a how-to) stands where each picture was."""

    def __init__(self, ocr: OcrOptions | None = None) -> None:
        self.ocr = ocr or OcrOptions()

    def configured(self, ocr: OcrOptions) -> DocxReader:
        return DocxReader(ocr)

    def read(self, data: bytes) -> str:
        import mammoth

        check_zip(data, "DOCX")
        run = OcrRun(self.ocr, "DOCX")
        options = {}
        if self.ocr.enabled and (count := len(docx_pictures(data))):
            run.check(count)
            seen: list[int] = []
            options["convert_image"] = mammoth.images.img_element(
                lambda image: {"alt": picture_text(image, run, seen, count)}
            )
        try:
            result = mammoth.convert_to_html(io.BytesIO(data), **options)
        except (KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise DocError(f"not a readable DOCX file ({exc})") from None
        return with_ocr(Text.of(html_to_markdown(result.value), "utf-8"), run)


MIN_PICTURE_PIXELS = 40_000  # smaller pictures (icons, logos, bullets) are not read


def docx_pictures(data: bytes) -> list[str]:
    """The DOCX's media files large enough to hold text (vector EMF/WMF and icons left out)."""
    found = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("word/media/") and _big_picture(archive.read(name)):
                found.append(name)
    return found


def _big_picture(data: bytes) -> bool:
    try:
        image = to_image_file(data)
    except DocError:
        return False
    return image.width * image.height >= MIN_PICTURE_PIXELS


def picture_text(image, run: OcrRun, seen: list[int], total: int) -> str:
    """One DOCX picture's text (its alt text when it is small or not a readable picture)."""
    with image.open() as stream:
        data = stream.read()
    if not _big_picture(data):
        return image.alt_text or ""
    seen.append(1)
    return " ".join(run.read(data, len(seen), total).split()) or (image.alt_text or "")


def check_zip(data: bytes, kind: str) -> None:
    """A DOCX is a zip: refuse one that is not, or that would inflate past the limit."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise DocError(f"not a {kind} file (not a zip archive)") from None
    if inflated > MAX_DOCX_UNZIPPED:
        raise DocError(f"{kind} would inflate to {inflated / 1e6:.0f} MB: refused (zip bomb?)")


class PdfReader(Reader):
    """Text pages by their text layer; pages without one (scans) by OCR, within the budget."""

    def __init__(self, ocr: OcrOptions | None = None) -> None:
        self.ocr = ocr or OcrOptions()

    def configured(self, ocr: OcrOptions) -> PdfReader:
        return PdfReader(ocr)

    def read(self, data: bytes) -> str:
        from pypdf import PdfReader as Pdf
        from pypdf.errors import PdfReadError

        run = OcrRun(self.ocr, "PDF")
        try:
            pdf = Pdf(io.BytesIO(data))
            if pdf.is_encrypted:
                raise DocError("encrypted PDF: save an unprotected copy to ingest it")
            if len(pdf.pages) > MAX_PAGES:
                raise DocError(f"PDF has {len(pdf.pages)} pages (limit {MAX_PAGES})")
            pages = [page_lines(page) for page in pdf.pages]
            scans = [i for i, lines in enumerate(pages) if is_scan(pdf.pages[i], lines)]
            if scans and (self.ocr.enabled or not any(pages)):
                run.check(len(scans))
                for done, i in enumerate(scans, 1):
                    pages[i] = ocr_page(run, pdf.pages[i], done, len(scans)) or pages[i]
        except DocError:
            raise
        except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
            raise DocError(f"damaged or truncated PDF ({type(exc).__name__}: {exc})") from None
        if not any(text.strip() for lines in pages for text, _ in lines):
            found = " and OCR found no text on its scanned pages" if scans else ""
            raise DocError(f"PDF with no text layer{found}: nothing to index")
        return with_ocr(Text.of(pdf_markdown(pages), "utf-8"), run)


def is_scan(page, lines: list[tuple[str, float]]) -> bool:
    """A page with (almost) no text layer that holds a picture: a scanned page."""
    if sum(len(text.strip()) for text, _ in lines) >= 10:
        return False
    try:
        return len(page.images) > 0
    except Exception:  # noqa: BLE001 - pypdf raises many kinds on odd resources
        return False


def ocr_page(run: OcrRun, page, done: int, total: int) -> list[tuple[str, float]]:
    """A scanned page's paragraphs (size 0: never headings); its main pictures read in turn."""
    try:
        images = [image.image for image in page.images]
    except Exception as exc:  # noqa: BLE001 - a filter pypdf cannot decode (JBIG2, ...)
        raise DocError(f"a scanned page's image cannot be decoded ({exc})") from None
    images = [i for i in images if i is not None]
    largest = max((i.width * i.height for i in images), default=0)
    texts = [run.read(i, done, total) for i in images if i.width * i.height >= largest / 10]
    forget_decoded(page)
    paragraphs = [p for text in texts for p in text.split("\n\n") if p.strip()]
    return [line for p in paragraphs for line in ((p, 0.0), ("", 0.0))]


def forget_decoded(page) -> None:
    """Drop the decoded pixels pypdf keeps on each of a page's image streams once read: a
    Flate-compressed 300 dpi scan is ~26 MB a page decoded, which a 50-page file would hold."""
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    for ref in xobjects.get_object().values() if xobjects is not None else []:
        stream = ref.get_object()
        if getattr(stream, "decoded_self", None) is not None:
            stream.decoded_self = None


def with_ocr(text: Text, run: OcrRun) -> Text:
    """`text` carrying what its OCR did, for the ingest report."""
    text.ocr_pages, text.ocr_cached = run.pages, run.cached
    text.ocr_seconds = round(run.seconds, 3)
    return text


class ImageReader(Reader):
    """A picture (a screenshot, a photo of a notice, a scan) read by OCR; each frame of a
    multi-page TIFF is a page. A picture in which no text is found is refused, not indexed
    empty."""

    def __init__(self, ocr: OcrOptions | None = None) -> None:
        self.ocr = ocr or OcrOptions()

    def configured(self, ocr: OcrOptions) -> ImageReader:
        return ImageReader(ocr)

    def read(self, data: bytes) -> str:
        run = OcrRun(self.ocr, "image")
        image = to_image_file(data)
        count = getattr(image, "n_frames", 1)
        run.check(count)
        if count == 1:
            text = run.read(data, 1, 1)
        else:
            texts = [run.read(frame.copy(), n, count) for n, frame in enumerate(frames(image), 1)]
            text = "\n".join(f"{PAGE_MARK.format(n=n)}\n{t}\n" for n, t in enumerate(texts, 1))
        if not strip_page_marks(text).strip():
            raise DocError("no text found in the image (OCR): nothing to index")
        return with_ocr(Text.of(text.strip() + "\n", "utf-8"), run)


def to_image_file(data: bytes):
    """The picture, opened (not decoded) to count its frames; DocError if it is not one."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DocError(f"not a readable image ({type(exc).__name__}: {exc})") from None


def page_lines(page) -> list[tuple[str, float]]:
    """The page's lines, each with the largest font size used on it."""
    runs: list[tuple[str, float]] = []

    def visit(text, cm, tm, font_dict, font_size) -> None:
        scale = (tm[0] ** 2 + tm[1] ** 2) ** 0.5 * (cm[0] ** 2 + cm[1] ** 2) ** 0.5
        runs.append((text, float(font_size) * (scale or 1.0)))

    page.extract_text(visitor_text=visit)
    lines: list[tuple[str, float]] = []
    current, size = "", 0.0
    for text, run_size in runs:
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i:
                lines.append((current, size))
                current, size = "", 0.0
            if part.strip():
                current += part
                size = max(size, run_size)
    lines.append((current, size))
    return [(" ".join(t.split()), s) for t, s in lines if t.strip()]


def pdf_markdown(pages: list[list[tuple[str, float]]]) -> str:
    """Lines set larger than the body (by 15%+, short, not ending a sentence) become headings,
    one level per distinct size, largest first; each page starts with its marker."""
    sizes = Counter(round(s, 1) for lines in pages for text, s in lines for _ in text.split() if s)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    big = sorted({round(s, 1) for lines in pages for t, s in lines if _is_heading(t, s, body)},
                 reverse=True)  # fmt: skip
    level = {size: min(i + 1, 6) for i, size in enumerate(big)}
    out: list[str] = []
    for number, lines in enumerate(pages, 1):
        out.append(PAGE_MARK.format(n=number))
        for text, size in lines:
            if _is_heading(text, size, body):
                out += ["", f"{'#' * level[round(size, 1)]} {text}", ""]
            else:
                out.append(text)
    return "\n".join(out).strip() + "\n"


def _is_heading(text: str, size: float, body: float) -> bool:
    return (
        size > 0
        and size >= body * 1.15
        and len(text) <= 120
        and not text.rstrip().endswith((".", ","))
    )


class RstReader(Reader):
    """reStructuredText section titles (text over a line of one repeated punctuation mark)
    become markdown headings, levels in the order the marks first appear."""

    UNDERLINE = re.compile(r"^([=\-~^\"'`#*+:.])\1{2,}\s*$")

    def read(self, data: bytes) -> str:
        text = decode(data)
        lines = text.splitlines()
        marks: list[str] = []
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            below = lines[i + 1] if i + 1 < len(lines) else ""
            title = line.strip()
            if title and self.UNDERLINE.match(below) and len(below.strip()) >= len(title):
                mark = below.strip()[0]
                if mark not in marks:
                    marks.append(mark)
                out.append(f"{'#' * min(marks.index(mark) + 1, 6)} {title}")
                i += 2
                continue
            out.append(line)
            i += 1
        return Text.of("\n".join(out) + "\n", text.encoding)


def page_of(markdown: str, passage: str) -> str:
    """The page numbers a passage of a converted PDF spans ('3' or '3-4'; '' for others)."""
    if not PAGE_MARK_RE.search(markdown):
        return ""
    start = markdown.find(passage.strip()[:60])
    if start < 0:
        return ""
    before = [int(n) for n in PAGE_MARK_RE.findall(markdown[:start])]
    inside = [int(n) for n in PAGE_MARK_RE.findall(passage)]
    first = before[-1] if before else (inside[0] if inside else 1)
    last = inside[-1] if inside else first
    return str(first) if last == first else f"{first}-{last}"


def strip_page_marks(text: str) -> str:
    return PAGE_MARK_RE.sub("", text)
