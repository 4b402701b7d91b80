"""A reader per file type; the scan reads exactly the suffixes that have one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import find_documents
from ingest.readers import READERS, DocError, reader_for


def test_markdown_reader_decodes_utf8_and_utf16_and_refuses_binary():
    reader = reader_for(Path("a.MD"))
    assert reader.read("\ufeff# 标题".encode()) == "# 标题"
    assert reader.read("# Title".encode("utf-16")) == "# Title"
    with pytest.raises(DocError, match="NUL"):
        reader.read(b"\x00\x01")
    with pytest.raises(DocError, match="no reader for .odt"):
        reader_for(Path("table.odt"))


def test_scan_finds_the_files_a_reader_exists_for(tmp_path):
    for name in ("a.md", "b.markdown", "c.txt", "d.pdf", "e.odt", "f.HTML", "g.PNG"):
        (tmp_path / name).write_text("# x\n\ntext\n")
    found, refused = find_documents(tmp_path)
    assert [p.name for p in found] == ["a.md", "b.markdown", "c.txt", "d.pdf", "f.HTML", "g.PNG"]
    assert refused == []
    assert set(READERS) == {".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx", ".rst",
                            ".xlsx", ".csv", ".pptx", ".png", ".jpg", ".jpeg", ".webp", ".bmp",
                            ".tif", ".tiff"}  # fmt: skip
    only = find_documents(tmp_path, [".md", ".pdf"])[0]  # the setting picks the types read
    assert [p.name for p in only] == ["a.md", "d.pdf"]
