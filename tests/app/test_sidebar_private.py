"""Where the index lives (its path, its server's socket) is shown to admins only: a staff
member's sidebar names neither (a path tells an attacker with a shell where to look)."""

from __future__ import annotations

from tests.app.conftest import texts
from tests.app.test_chat import hashed, sign_in, users  # noqa: F401 - fixtures


def test_the_index_location_is_for_admins_only(users, app_index):  # noqa: F811
    index = app_index["db"]
    staff = " ".join(texts(sign_in("bo").sidebar.caption))
    assert "documents" in staff  # the index line is there
    assert index not in staff and "unix:" not in staff and "127.0.0.1" not in staff
    admin = " ".join(texts(sign_in("ana").sidebar.caption))
    assert index in admin


def test_a_broken_history_file_is_named_to_admins_only(users, monkeypatch, tmp_path):  # noqa: F811
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"garbage" * 500)
    monkeypatch.setenv("RAG_CHAT_DB", str(broken))
    staff = texts(sign_in("bo").warning)
    assert any("not saved" in w for w in staff) and not any(str(broken) in w for w in staff)
    assert any(str(broken) in w for w in texts(sign_in("ana").warning))
