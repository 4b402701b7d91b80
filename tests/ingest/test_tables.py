"""Spreadsheets and slide decks: every visible sheet a table under its name, cut into chunks
of bounded rows that each repeat the header; CSV in the encodings text files come in; each
slide a section with its boxes, tables and notes; broken and locked files refused plainly."""

from __future__ import annotations

import datetime as dt

import pytest

from ingest.reader_base import DocError
from ingest.slides import PptxReader
from ingest.split import split_markdown
from ingest.tables import MAX_PIECE_ROWS, CsvReader, XlsxReader, section_pieces
from tests.ingest import officegen

HEADER = "| 产品 | 单价 | 备注 |"


def test_sheets_are_tables_under_their_names_hidden_and_empty_skipped(tmp_path):
    rows = [["产品", "单价", "备注"]] + [[f"产品{i}", i * 1.5, "含税" if i % 2 else None]
                                          for i in range(60)]  # fmt: skip
    path = officegen.xlsx(tmp_path / "prices.xlsx", {
        "价格表": rows,
        "Secret": [["salary", 1]],
        "Empty": [],
        "Dates": [["Holiday", "Date"], ["May Day", dt.datetime(2026, 5, 1)]],
    }, hidden=("Secret",))  # fmt: skip
    markdown = XlsxReader().read(path.read_bytes())
    assert markdown.startswith(f"# 价格表\n\n{HEADER}\n| --- | --- | --- |\n| 产品0 | 0 |  |")
    assert "| 产品1 | 1.5 | 含税 |" in markdown and "| May Day | 2026-05-01 |" in markdown
    assert "Secret" not in markdown and "salary" not in markdown and "Empty" not in markdown
    chunks = split_markdown(markdown, "prices.xlsx", chunk_tokens=200)
    prices = [c for c in chunks if c.heading == "价格表"]
    assert len(prices) >= 3  # 60 rows never go into one chunk
    for chunk in prices:  # every piece is a table that says what its columns are
        lines = chunk.text.splitlines()
        assert lines[:2] == [HEADER, "| --- | --- | --- |"], chunk.text
        assert 1 <= len(lines) - 2 <= MAX_PIECE_ROWS
    found = [line for c in prices for line in c.text.splitlines()[2:]]
    assert found == [line for line in markdown.splitlines() if line.startswith("| 产品")][1:]
    assert any(c.heading == "Dates" and "May Day" in c.text for c in chunks)


def test_formulas_read_as_the_values_excel_saved(tmp_path):
    path = officegen.xlsx_with_formula(tmp_path / "totals.xlsx", "=SUM(1200,345)", 1545)
    markdown = XlsxReader().read(path.read_bytes())
    assert "| Travel budget | 1545 |" in markdown and "SUM" not in markdown


def test_a_long_table_in_any_document_repeats_its_header():
    rows = "\n".join(f"| room {i} | floor {i % 9} |" for i in range(80))
    body = f"Rooms by floor:\n\n| Room | Floor |\n| --- | --- |\n{rows}\n\nBook them early."
    pieces = section_pieces(body, 120, lambda text: [text])
    tables = [p for p in pieces if p.startswith("| Room")]
    assert pieces[0] == "Rooms by floor:" and pieces[-1] == "Book them early."
    assert len(tables) >= 4 and all(p.split("\n")[1] == "| --- | --- |" for p in tables)
    assert sum(len(p.splitlines()) - 2 for p in tables) == 80


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "big5", "utf-16"])
def test_csv_in_the_encodings_text_files_come_in(encoding):
    text = "姓名,城市,分機\n李雷,台北,8123\n韓梅梅,高雄,8124\n"
    read = CsvReader().read(text.encode(encoding))
    assert read.splitlines()[:3] == ["| 姓名 | 城市 | 分機 |", "| --- | --- | --- |",
                                     "| 李雷 | 台北 | 8123 |"]  # fmt: skip
    assert read.encoding == encoding


def test_csv_with_semicolons_pipes_and_ragged_rows():
    read = CsvReader().read(b"name;note\nAnna;a|b\nBo\n")
    assert "| Anna | a\\|b |" in read and "| Bo |  |" in read


def test_each_slide_is_a_section_with_boxes_tables_and_notes(tmp_path):
    path = officegen.pptx(tmp_path / "deck.pptx", [
        {"title": "Onboarding", "body": "Laptops are issued on day one.",
         "notes": "Mention the parking card."},
        {"box": "Badges are printed at reception.",
         "table": [["Room", "Floor"], ["Aurora", "7"]]},
    ])  # fmt: skip
    markdown = PptxReader().read(path.read_bytes())
    first, second = markdown.split("# Slide 2")
    assert first.startswith("# Onboarding\n\nLaptops are issued on day one.")
    assert first.count("Onboarding") == 1  # the title is the heading, not repeated as text
    assert "Notes: Mention the parking card." in first
    assert "Badges are printed at reception." in second
    assert "| Room | Floor |\n| --- | --- |\n| Aurora | 7 |" in second
    chunks = split_markdown(markdown, "deck.pptx")
    assert [c.heading for c in chunks] == ["Onboarding", "Slide 2"]


def test_broken_and_locked_office_files_are_refused_plainly(tmp_path):
    book = officegen.xlsx(tmp_path / "ok.xlsx", {"S": [["a", "b"]] * 50}).read_bytes()
    with pytest.raises(DocError, match="XLSX"):
        XlsxReader().read(book[: len(book) // 2])
    deck = officegen.pptx(tmp_path / "ok.pptx", [{"title": "Secret plans"}])
    locked = officegen.encrypted(tmp_path / "locked.pptx", deck).read_bytes()
    with pytest.raises(DocError, match="password-protected PPTX"):
        PptxReader().read(locked)
    with pytest.raises(DocError, match="not a PPTX"):
        PptxReader().read(b"PK not really")
