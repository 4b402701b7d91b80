"""Spreadsheets, decks and pictures of text made by the tests (never downloaded): XLSX with
openpyxl (formulas with cached values with XlsxWriter, as Excel saves them), PPTX with
python-pptx, an encrypted PPTX with msoffcrypto-tool, and text drawn with the Noto CJK font
into images and scanned PDF pages."""

from __future__ import annotations

import io
from pathlib import Path

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SIMPLIFIED = 2  # the font file's faces: JP, KR, SC, TC, HK; SC draws mainland Chinese glyphs


def xlsx(path: Path, sheets: dict[str, list[list[object]]], hidden: tuple[str, ...] = ()) -> Path:
    """A workbook of sheets (name -> rows); sheets named in `hidden` are hidden."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


def xlsx_with_formula(path: Path, formula: str, cached: object) -> Path:
    """One sheet whose B2 is `formula` with the value Excel computed and saved beside it."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Totals")
    sheet.write_row(0, 0, ["Item", "Total"])
    sheet.write(1, 0, "Travel budget")
    sheet.write_formula(1, 1, formula, None, cached)
    book.close()
    return path


def pptx(path: Path, slides: list[dict]) -> Path:
    """Slides of {'title', 'body', 'notes', 'table', 'box'}: each key optional."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for spec in slides:
        layout = deck.slide_layouts[1 if "title" in spec else 6]
        slide = deck.slides.add_slide(layout)
        if "title" in spec:
            slide.shapes.title.text = spec["title"]
            slide.placeholders[1].text = spec.get("body", "")
        if "box" in spec:
            box = slide.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1))
            box.text_frame.text = spec["box"]
        if "table" in spec:
            rows = spec["table"]
            shape = slide.shapes.add_table(len(rows), len(rows[0]), Inches(1), Inches(3),
                                           Inches(6), Inches(1.5))  # fmt: skip
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
        if "notes" in spec:
            slide.notes_slide.notes_text_frame.text = spec["notes"]
    deck.save(path)
    return path


def encrypted(path: Path, source: Path, password: str = "pw") -> Path:
    """`source` (an Office file) encrypted with a password, as Office saves it."""
    from msoffcrypto.format.ooxml import OOXMLFile

    with open(source, "rb") as plain, open(path, "wb") as out:
        OOXMLFile(plain).encrypt(password, out)
    return path


def text_image(lines: list[str], size: int = 28, width: int = 1000, angle: float = 0.0):
    """White picture of `lines` drawn in black with the Noto CJK font (blank line: a gap)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, size, index=SIMPLIFIED)
    height = int(size * 1.8 * (len(lines) + 1))
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((size, size + n * size * 1.8), line, font=font, fill="black")
    return image.rotate(angle, expand=True, fillcolor="white") if angle else image


def png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def scanned_pdf(path: Path, pages: list[object], dpi: int = 150) -> Path:
    """A PDF whose pages are a picture each (a scan) or, for a str, a text layer."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    doc = canvas.Canvas(str(path))
    for page in pages:
        if isinstance(page, str):
            doc.setPageSize((595, 842))
            doc.setFont("Helvetica", 11)
            doc.drawString(50, 780, page)
        else:
            width, height = page.width * 72 / dpi, page.height * 72 / dpi
            doc.setPageSize((width, height))
            doc.drawImage(ImageReader(page), 0, 0, width, height)
        doc.showPage()
    doc.save()
    return path


def docx_with_picture(path: Path, heading: str, text: str, picture) -> Path:
    """A DOCX of a heading, a paragraph and a picture pasted below it."""
    from docx import Document
    from docx.shared import Inches

    document = Document()
    document.add_heading(heading, level=1)
    document.add_paragraph(text)
    document.add_picture(io.BytesIO(png(picture)), width=Inches(5))
    document.save(str(path))
    return path
