"""Spreadsheets as markdown tables: each visible sheet of an .xlsx (cached formula values) and
each .csv becomes one table under the sheet's name; `table_pieces` cuts a long table into
pieces of bounded rows that each repeat the header row, so a row read out of context still
says what its columns are."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Callable, Iterable

from ingest.reader_base import DocError, Reader, Text, decode
from retrieval.tokens import estimate_tokens

MAX_CELLS = 1_000_000  # a sheet (or CSV) past this is refused whole, never half-read
MAX_CELL_CHARS = 2_000  # a cell of a whole essay is cut: one row must fit one chunk's field
MAX_PIECE_ROWS = 25  # rows per chunk at most, besides the token budget
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and the old binary formats
TABLE_LINE = re.compile(r"^\|.*\|\s*$")
RULE_LINE = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$")


def cell_text(value: object) -> str:
    """A cell as a table shows it: whole floats without '.0', dates in ISO form, pipes escaped,
    line breaks as spaces."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, dt.datetime) and value.time() == dt.time():
        value = value.date()
    if isinstance(value, dt.date | dt.time):
        value = value.isoformat()
    text = " ".join(str(value).split()).replace("|", "\\|")
    return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS] + "…"


def markdown_table(rows: list[list[str]]) -> str:
    """Rows (the first is the header) as a markdown table; empty trailing columns dropped."""
    width = max((i + 1 for row in rows for i, c in enumerate(row) if c), default=0)
    if not width:
        return ""
    rows = [row[:width] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + " --- |" * width)
    return "\n".join(lines)


def table_rows(values: Iterable[Iterable[object]]) -> list[list[str]]:
    """Non-empty rows as text, refusing a table past MAX_CELLS."""
    rows: list[list[str]] = []
    cells = 0
    for raw in values:
        row = [cell_text(v) for v in raw]
        cells += len(row)
        if cells > MAX_CELLS:
            raise DocError(f"table has more than {MAX_CELLS:,} cells: refused (split the file)")
        if any(row):
            rows.append(row)
    return rows


class XlsxReader(Reader):
    """Each visible, non-empty sheet as a table under a heading of its name."""

    def read(self, data: bytes) -> str:
        from openpyxl import load_workbook

        check_ooxml(data, "XLSX")
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise DocError(f"not a readable XLSX file ({type(exc).__name__}: {exc})") from None
        try:
            parts = [_sheet(sheet) for sheet in book.worksheets if sheet.sheet_state == "visible"]
        except (KeyError, ValueError, TypeError, OSError, zipfile.BadZipFile) as exc:
            raise DocError(f"damaged XLSX file ({type(exc).__name__}: {exc})") from None
        finally:
            book.close()
        return "\n\n".join(p for p in parts if p) + "\n"


def _sheet(sheet) -> str:
    table = markdown_table(table_rows(sheet.iter_rows(values_only=True)))
    return f"# {cell_text(sheet.title)}\n\n{table}" if table else ""


class CsvReader(Reader):
    """A CSV (or tab-separated) file in any encoding a text file may have, as one table."""

    def read(self, data: bytes) -> str:
        text = decode(data)
        try:
            rows = table_rows(csv.reader(io.StringIO(text), delimiter=delimiter(text)))
        except csv.Error as exc:
            raise DocError(f"not a readable CSV file ({exc})") from None
        return Text.of(markdown_table(rows) + "\n", text.encoding)


def delimiter(text: str) -> str:
    """The separator the header row uses most: comma, semicolon (European Excel), tab or pipe."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    return max(",;\t|", key=header.count) if any(c in header for c in ",;\t|") else ","


def check_ooxml(data: bytes, kind: str) -> None:
    """An Office file must be a zip: say so plainly when it is an encrypted or old-format one."""
    from ingest.formats import check_zip

    if data.startswith(OLE_MAGIC):
        suffix = {"XLSX": ".xls", "PPTX": ".ppt"}.get(kind, "")
        raise DocError(
            f"password-protected {kind} (or an old {suffix} file): save an unprotected "
            f"{kind.lower()} copy to ingest it"
        )
    check_zip(data, kind)


def section_pieces(body: str, max_tokens: int, split_text: Callable[[str], list[str]]) -> list[str]:
    """A section's body in chunk-sized pieces: tables cut into runs of rows that fit
    `max_tokens` (and MAX_PIECE_ROWS), each under the table's header; other text by
    `split_text`; a body that fits (and holds no long table) as it is."""
    rows = sum(1 for line in body.splitlines() if TABLE_LINE.match(line))
    long_table = rows > MAX_PIECE_ROWS + 2 and any(RULE_LINE.match(x) for x in body.splitlines())
    if estimate_tokens(body) <= max_tokens and not long_table:
        return [body]
    if not any(RULE_LINE.match(line) for line in body.splitlines()):
        return split_text(body)
    pieces: list[str] = []
    for block, is_table in _blocks(body):
        if is_table:
            pieces += _row_runs(block.splitlines(), max_tokens)
        elif block.strip():
            fits = estimate_tokens(block) <= max_tokens
            pieces += [block] if fits else split_text(block)
    return pieces


def _blocks(body: str) -> list[tuple[str, bool]]:
    """Runs of lines: a table (header, rule, rows) or other text."""
    lines = body.splitlines()
    blocks: list[tuple[str, bool]] = []
    start, i = 0, 0
    while i < len(lines):
        if TABLE_LINE.match(lines[i]) and i + 1 < len(lines) and RULE_LINE.match(lines[i + 1]):
            end = i + 2
            while end < len(lines) and TABLE_LINE.match(lines[end]):
                end += 1
            blocks += [("\n".join(lines[start:i]), False), ("\n".join(lines[i:end]), True)]
            start = i = end
        else:
            i += 1
    blocks.append(("\n".join(lines[start:]), False))
    return [(b.strip("\n"), t) for b, t in blocks if b.strip()]


def _row_runs(lines: list[str], max_tokens: int) -> list[str]:
    head, rows = lines[:2], lines[2:]
    budget = max_tokens - estimate_tokens("\n".join(head))
    runs: list[list[str]] = [[]]
    for row in rows:
        run = runs[-1]
        full = len(run) >= MAX_PIECE_ROWS or estimate_tokens("\n".join(run + [row])) > budget
        if run and full:
            runs.append([row])
        else:
            run.append(row)
    return ["\n".join(head + run) for run in runs if run] or ["\n".join(head)]
