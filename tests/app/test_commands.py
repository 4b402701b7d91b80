"""The admin's commands: `python -m accounts.admin` and `python -m accounts.feedback export`."""

from __future__ import annotations

import json

from accounts.chats import ChatStore, source_key
from accounts.users import load_users, password_matches
from retrieval.answer import Answer, Source
from tests.conftest import run_cli


def users(path, *args: str, password: str | None = None):
    return run_cli("-m", "accounts.admin", "--file", str(path), *args, input=password)


def test_users_command_adds_changes_and_removes(tmp_path):
    path = tmp_path / "users.jsonl"
    added = users(path, "add", "ana", "--display", "Ana", "--groups", "hr,finance", "--admin",
                  "--password-stdin", password="first password\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    account = load_users(path).accounts["ana"]
    assert account.user.admin and account.user.groups == ("hr", "finance")
    assert password_matches(account.password_hash, "first password")
    assert "first password" not in path.read_text()  # only the hash is stored
    changed = users(path, "passwd", "ana", "--password-stdin", password="second password\n")
    assert changed.returncode == 0
    assert password_matches(load_users(path).accounts["ana"].password_hash, "second password")
    listed = users(path, "list")
    assert listed.stdout.split("\t")[:3] == ["ana", "Ana", "admin"]
    assert "$argon2" not in listed.stdout
    assert users(path, "add", "bad name", "--password-stdin", password="x" * 9).returncode == 2
    short = users(path, "add", "bo", "--password-stdin", password="short\n")
    assert short.returncode == 2 and "8 characters" in short.stderr
    assert users(path, "remove", "ana").returncode == 0
    assert load_users(path).accounts == {}
    missing = users(path, "remove", "ana")
    assert missing.returncode == 2 and "no user 'ana'" in missing.stderr


def test_feedback_export(tmp_path):
    db = tmp_path / "chats.sqlite"
    store = ChatStore(db)
    chat = store.create("ana", "q")
    source = Source(1, "it/vpn.md", "VPN > Reset", 0.8, "Reset it in the portal.")
    first = store.add_message(
        "ana", chat.id, "How do I reset the VPN?", Answer("x", sources=[source])
    )
    second = store.add_message("ana", chat.id, "Who approves leave?", Answer("y"))
    store.give_feedback("ana", first, 0, "wrong", source_key("it/vpn.md", "VPN > Reset"))
    store.give_feedback("ana", second, 0, "no pick")
    out = tmp_path / "out.jsonl"
    result = run_cli("-m", "accounts.feedback", "export", "--out", str(out), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "1 thumbs-down item(s) have no right source" in result.stderr
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["question"] == "How do I reset the VPN?" and row["doc"] == "it/vpn.md"
