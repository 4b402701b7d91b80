"""Conversations and feedback in SQLite: ownership, search, deletion from disk, concurrent
writers, a damaged file, forward migration, and the export the eval command reads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from accounts.chats import (
    MIGRATIONS,
    NO_SOURCE,
    SCHEMA_VERSION,
    ChatStore,
    ChatStoreError,
    regression_questions,
    source_key,
)
from evaluation.sets import load_questions
from retrieval.answer import Answer, Source, Timings

SOURCES = [
    Source(1, "handbook/leave.md", "Leave > Annual leave", 0.91, "Staff get 25 days.", True),
    Source(2, "it/vpn.md", "VPN > Reset", 0.40, "Reset it in the portal.", False),
]


def answer(text: str = "You get 25 days [1].") -> Answer:
    return Answer(text, "thinking", SOURCES, "chat", "q", timings=Timings(12.5, 80.0, 300.0))


def test_a_user_sees_only_their_own_chats(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite")
    mine = store.create("ana", "How many days of leave?\nsecond line")
    store.add_message("ana", mine.id, "How many days of leave?", answer(), index_version=3)
    theirs = store.create("bo", "Where is the VPN portal?")
    assert mine.title == "How many days of leave? second line"
    assert [c.id for c in store.conversations("ana")] == [mine.id]
    assert store.get("bo", mine.id) is None and store.messages("bo", mine.id) == []
    with pytest.raises(ChatStoreError):
        store.add_message("bo", mine.id, "sneaky", answer())
    assert not store.rename("bo", mine.id, "mine now") and not store.delete("bo", mine.id)
    with pytest.raises(ChatStoreError):
        store.give_feedback("bo", store.messages("ana", mine.id)[0].id, 0, "no")
    [message] = store.messages("ana", mine.id)
    assert message.answer == answer() and message.index_version == 3  # stored whole
    assert store.get("bo", theirs.id) == theirs


def test_list_is_newest_first_renamable_and_searchable(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite")
    first = store.create("ana", "Leave")
    second = store.create("ana", "Printers")
    store.add_message("ana", first.id, "Leave", answer("Holidays are 25_days%"))
    assert [c.id for c in store.conversations("ana")] == [first.id, second.id]  # touched
    assert store.rename("ana", second.id, "  Floor 7   printer ")
    assert store.get("ana", second.id).title == "Floor 7 printer"
    assert [c.id for c in store.conversations("ana", "printer")] == [second.id]
    assert [c.id for c in store.conversations("ana", "25_days%")] == [first.id]  # in answers
    assert store.conversations("ana", "25%days") == []  # LIKE wildcards are literal
    assert store.conversations("ana", "2_5") == []


def test_deleting_a_chat_removes_its_text_from_disk(tmp_path):
    path = tmp_path / "chats.sqlite"
    store = ChatStore(path)
    chat = store.create("ana", "zebra-unique-question")
    store.add_message("ana", chat.id, "zebra-unique-question", answer("okapi-unique-answer"))
    assert store.delete("ana", chat.id)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("chats"))
    assert b"zebra-unique" not in raw and b"okapi-unique" not in raw
    assert store.get("ana", chat.id) is None


def test_two_tabs_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "chats.sqlite"
    chat = ChatStore(path).create("ana", "busy")
    errors: list[Exception] = []

    def tab(n: int) -> None:
        store = ChatStore(path)  # each tab: its own connection, as in the app
        try:
            for i in range(25):
                store.add_message("ana", chat.id, f"tab {n} question {i}", answer())
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=tab, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ChatStore(path).messages("ana", chat.id)) == 50


def test_a_damaged_file_is_a_clear_error(tmp_path):
    path = tmp_path / "chats.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ChatStoreError, match="answers still work but are not saved"):
        ChatStore(path)
    assert path.read_bytes().startswith(b"this is not a database")  # left for its owner


def test_a_locked_file_is_a_clear_error(tmp_path):
    path = tmp_path / "chats.sqlite"
    store = ChatStore(path, timeout_s=0.2)
    chat = store.create("ana", "locked")
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ChatStoreError, match="busy"):
            store.add_message("ana", chat.id, "q", answer())
    finally:
        holder.rollback()
        holder.close()
    store.add_message("ana", chat.id, "q", answer())  # and works again once it is free


def test_an_old_file_is_migrated_forward_keeping_its_chats(tmp_path):
    path = tmp_path / "chats.sqlite"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO conversations VALUES ('c1', 'ana', 'Old chat', 1.0, 1.0)")
    record = '{"answer": "old answer", "status": "answered", "model": "m"}'
    db.execute(
        "INSERT INTO messages (conversation, question, answer_text, record, model, status, "
        f"created) VALUES ('c1', 'old question', 'old answer', '{record}', 'm', 'answered', 1.0)"
    )
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    store = ChatStore(path)
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    assert store.get("ana", "c1").knowledge == ()  # v3: an old chat searches everything
    [message] = store.messages("ana", "c1")
    assert message.answer.answer == "old answer" and message.index_version == 0
    store.give_feedback("ana", message.id, 0, "old but wrong", NO_SOURCE)  # v2 table works
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.commit()
    newer.close()
    with pytest.raises(ChatStoreError, match="upgrade the app"):
        ChatStore(path)


def test_feedback_export_is_read_by_the_eval_command(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite")
    chat = store.create("ana", "q")
    ids = [store.add_message("ana", chat.id, q, answer()) for q in ("a", "b", "c", "年假有几天")]
    store.give_feedback("ana", ids[0], 1)
    store.give_feedback("ana", ids[1], 0, "wrong page", source_key("it/vpn.md", "VPN > Reset"))
    store.give_feedback("ana", ids[2], 0, "no pick")
    store.give_feedback("ana", ids[3], 0, "not in the docs", NO_SOURCE)
    store.give_feedback("ana", ids[1], 0, "<b>changed my mind</b>", source_key(
        "it/vpn.md", "VPN > Reset"))  # fmt: skip
    down = store.feedback(only_down=True)
    assert len(down) == 3 and len(store.feedback()) == 4  # one per answer and user
    item = next(f for f in down if f.question == "b")
    assert item.comment == "<b>changed my mind</b>" and item.sources[0]["doc"] == SOURCES[0].doc
    questions, skipped = regression_questions(down)
    assert skipped == 1
    out = tmp_path / "export.jsonl"
    out.write_text("".join(__import__("json").dumps(q) + "\n" for q in questions))
    loaded = {q.question: q for q in load_questions(out)}
    assert loaded["b"].doc == "it/vpn.md" and loaded["b"].heading == "VPN > Reset"
    assert loaded["年假有几天"].doc is None and loaded["年假有几天"].lang == "zh"
    store.delete("ana", chat.id)
    assert len(store.feedback(only_down=True)) == 3  # the admin keeps what was sent


def test_a_conversation_keeps_its_knowledge_bases_and_only_its_owner_changes_them(tmp_path):
    store = ChatStore(tmp_path / "chats.sqlite")
    chat = store.create("ana", "How much leave?", ("hr",))
    assert store.get("ana", chat.id).knowledge == ("hr",)
    assert not store.set_knowledge("bob", chat.id, ("it",))  # not bob's
    assert store.set_knowledge("ana", chat.id, ("it", "hr"))
    assert store.get("ana", chat.id).knowledge == ("hr", "it")
    assert store.conversations("ana")[0].knowledge == ("hr", "it")
    assert store.set_knowledge("ana", chat.id, ())
    assert store.get("ana", chat.id).knowledge == ()
