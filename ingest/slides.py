"""Slide decks: each slide of a .pptx becomes a section headed by its title (or "Slide N"),
holding its text boxes and tables in reading order (top to bottom, then left to right, groups
opened) and its speaker notes."""

from __future__ import annotations

import io
import zipfile

from ingest.reader_base import DocError, Reader
from ingest.tables import cell_text, check_ooxml, markdown_table

MAX_SLIDES = 2_000


class PptxReader(Reader):
    def read(self, data: bytes) -> str:
        from pptx import Presentation
        from pptx.exc import PackageNotFoundError

        check_ooxml(data, "PPTX")
        try:
            deck = Presentation(io.BytesIO(data))
            if len(deck.slides) > MAX_SLIDES:
                raise DocError(f"deck has {len(deck.slides)} slides (limit {MAX_SLIDES})")
            parts = [slide_markdown(slide, n) for n, slide in enumerate(deck.slides, 1)]
        except DocError:
            raise
        except (PackageNotFoundError, KeyError, ValueError, TypeError, AttributeError,
                zipfile.BadZipFile) as exc:  # fmt: skip
            raise DocError(f"not a readable PPTX file ({type(exc).__name__}: {exc})") from None
        return "\n\n".join(parts) + "\n"


def slide_markdown(slide, number: int) -> str:
    """One slide: '# title', then its shapes' text and tables, then 'Notes: ...'."""
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
    title_id = title_shape.shape_id if title_shape is not None else None
    body = [
        text
        for shape in _in_reading_order(slide.shapes)
        if shape.shape_id != title_id and (text := shape_text(shape))
    ]
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            body.append("Notes: " + notes.text.strip())
    return "\n\n".join([f"# {title or f'Slide {number}'}", *body])


def _in_reading_order(shapes) -> list:
    """Shapes top to bottom, then left to right; a group's shapes in place of the group."""
    flat = []
    for shape in shapes:
        if shape.shape_type is not None and hasattr(shape, "shapes"):  # a group
            flat += _in_reading_order(shape.shapes)
        else:
            flat.append(shape)
    return sorted(flat, key=lambda s: (s.top or 0, s.left or 0))


def shape_text(shape) -> str:
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[cell_text(cell.text) for cell in row.cells] for row in shape.table.rows]
        return markdown_table([r for r in rows if any(r)])
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        lines = [" ".join(p.text.split()) for p in shape.text_frame.paragraphs]
        return "\n".join(line for line in lines if line)
    return ""
