"""Uploads: safe names, no path traversal, type and size limits, nothing half-written."""

from __future__ import annotations

import pytest

from ingest.uploads import safe_name, save_uploads
from retrieval.errors import UserError
from retrieval.settings import Settings


@pytest.fixture()
def settings(tmp_path):
    (tmp_path / "docs" / "hr").mkdir(parents=True)
    return Settings(_env_file=None, docs_dir=tmp_path / "docs", max_file_mb=0.01)


def test_files_land_in_the_chosen_folder(settings):
    assert save_uploads(settings, "hr", [("Leave 2027.md", b"# Leave\n")]) == ["hr/Leave 2027.md"]
    assert (settings.docs_dir / "hr" / "Leave 2027.md").read_bytes() == b"# Leave\n"
    assert not list((settings.docs_dir / "hr").glob(".*"))  # no temp file left


@pytest.mark.parametrize(
    ("folder", "files", "message"),
    [
        ("../..", [("a.md", b"x")], "not inside the docs folder"),
        ("hr/../../x", [("a.md", b"x")], "not inside"),
        ("nope", [("a.md", b"x")], "does not exist"),
        ("hr", [("evil.exe", b"x")], "type not ingested"),
        ("hr", [("big.md", b"x" * 20_000)], "larger than"),
        ("hr", [("ok.md", b"x"), ("bad.sh", b"x")], "type not ingested"),
    ],
)
def test_bad_uploads_are_refused_whole(settings, folder, files, message):
    with pytest.raises(UserError, match=message):
        save_uploads(settings, folder, files)
    assert not (settings.docs_dir / "hr" / "ok.md").exists()  # checked before any write


def test_names_are_made_safe(settings):
    assert safe_name("../../etc/passwd.md") == "passwd.md"
    assert safe_name("C:\\Users\\x\\notes.txt") == "notes.txt"
    assert safe_name("a<b>|c.md") == "a_b_c.md"
    assert safe_name(".access") == "access"  # an upload never writes an access rule
    with pytest.raises(UserError):
        safe_name("...")
    save_uploads(settings, ".", [("../hr/x.md", b"# x\n")])
    assert (settings.docs_dir / "x.md").exists()
    with pytest.raises(UserError, match="already exists"):
        save_uploads(settings, ".", [("x.md", b"# y\n")])
