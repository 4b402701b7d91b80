"""Test documents of every format, generated here (never downloaded): PDF with reportlab,
DOCX with python-docx, HTML, text and reStructuredText."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def pdf(path: Path, pages: list[list[tuple[str, str]]], password: str | None = None) -> Path:
    """A PDF whose pages hold ('h1' | 'h2' | 'p', text) blocks; headings in larger type."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sizes = {"h1": 20, "h2": 15, "p": 10}
    doc = canvas.Canvas(str(path), pagesize=A4, encrypt=password)
    for blocks in pages:
        y = 800
        for kind, text in blocks:
            doc.setFont("Helvetica-Bold" if kind != "p" else "Helvetica", sizes[kind])
            for line in _wrap(text, 90 if kind == "p" else 60):
                doc.drawString(50, y, line)
                y -= sizes[kind] + 6
            y -= 8
        doc.showPage()
    doc.save()
    return path


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def docx(path: Path, blocks: list[tuple[str, str]]) -> Path:
    """A DOCX of ('h1' | 'h2' | 'p', text) blocks, headings in Word's Heading styles."""
    from docx import Document

    document = Document()
    for kind, text in blocks:
        if kind == "p":
            document.add_paragraph(text)
        else:
            document.add_heading(text, level=int(kind[1]))
    document.save(str(path))
    return path


def zip_bomb(path: Path, inflated_mb: int) -> Path:
    """A 'DOCX' that inflates to inflated_mb of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            block = b"\x00" * 1_000_000
            for _ in range(inflated_mb):
                member.write(block)
    path.write_bytes(buffer.getvalue())
    return path
