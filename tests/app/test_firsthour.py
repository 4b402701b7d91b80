"""The first hour's papercuts in the chat (AppTest, real index of docs_corpus/, real chat
store): chats listed under Today / Yesterday / Last 7 days / Older with the date on hover, and
an admin's document counts following the Search in pick as everyone's do."""

from __future__ import annotations

import sqlite3
import time
from datetime import date, datetime, timedelta

import pytest

from accounts.chats import ChatStore, Conversation, by_date, date_group
from accounts.users import Account, User, hash_password, save_account
from tests.app.conftest import ask, doc_count, texts
from tests.app.test_chat import PASSWORD, sign_in

TODAY = date(2026, 3, 14)


def at_day(days_ago: int, hour: int = 9) -> float:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time()).replace(
        hour=hour
    ).timestamp()  # fmt: skip


def test_date_groups_are_local_calendar_days():
    assert date_group(at_day(0, 0), TODAY) == "today"
    assert date_group(at_day(1, 23), TODAY) == "yesterday"
    assert [date_group(at_day(n), TODAY) for n in (2, 6, 7, 400)] == [
        "week", "week", "older", "older"
    ]  # fmt: skip
    chats = [Conversation(str(n), f"c{n}", 0, at_day(n)) for n in (0, 0, 3, 1, 30)]
    grouped = [(name, [c.id for c in cs]) for name, cs in by_date(chats, TODAY)]
    assert grouped == [("today", ["0", "0"]), ("yesterday", ["1"]), ("week", ["3"]),
                       ("older", ["30"])]  # fmt: skip


@pytest.fixture()
def users(env, monkeypatch, tmp_path):
    hashed = hash_password(PASSWORD)
    path = tmp_path / "users.jsonl"
    save_account(path, Account(User("ana", "Ana Admin", ("hr",), True), hashed))
    save_account(path, Account(User("bo", "Bo"), hashed))
    monkeypatch.setenv("RAG_USERS_FILE", str(path))
    env("chat")
    return path


def test_the_chat_list_is_grouped_by_day_with_the_date_on_hover(users):
    store = ChatStore(users.parent / "chats.sqlite")
    now = time.time()
    ages = {"leave": 0, "vpn": 1, "laptop": 3, "parking": 40}
    ids = {}
    for title, days in ages.items():
        ids[title] = store.create("bo", title).id
        with sqlite3.connect(store.path) as db:
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?",
                       (now - days * 86_400, ids[title]))  # fmt: skip
    at = sign_in("bo")
    captions = texts(at.sidebar.caption)
    heads = [c for c in captions if c in {"Today", "Yesterday", "Last 7 days", "Older"}]
    assert heads == ["Today", "Yesterday", "Last 7 days", "Older"]
    button = at.sidebar.button(key=f"chat-{ids['parking']}")
    shown = datetime.fromtimestamp(now - 40 * 86_400).strftime("%Y-%m-%d %H:%M")
    assert button.help == shown


def test_an_admins_counts_follow_the_search_in_pick(users):
    at = sign_in("ana")
    everything = doc_count(at)
    at.sidebar.multiselect(key="knowledge_pick").set_value(["hr"]).run()
    assert doc_count(at) == 13 < everything  # as for everyone (test_knowledge.py: bo)
    at.sidebar.multiselect(key="knowledge_pick").set_value([]).run()
    assert doc_count(at) == everything


def test_another_base_with_a_strong_match_is_one_click_away(users):
    at = sign_in("bo")
    at.sidebar.multiselect(key="knowledge_pick").set_value(["it"]).run()
    at = ask(at, "Who approves my leave request?")  # IT help matches it weakly, HR strongly
    [notice] = [n for n in texts(at.info) if "strong match" in n]
    assert notice.startswith("**HR handbook** has a strong match")
    [there] = [b for b in at.button if (b.key or "").endswith("-elsewhere")]
    assert there.label == "Search in HR handbook"
    there.click().run()
    assert at.sidebar.multiselect(key="knowledge_pick").value == ["hr"]
    store = ChatStore(users.parent / "chats.sqlite")
    first, again = store.messages("bo", at.query_params["chat"])
    assert first.answer.elsewhere == "hr" and again.question == first.question
    assert again.answer.sources and all(s.knowledge == "hr" for s in again.answer.sources)
    assert again.answer.elsewhere == ""  # asked where the match is: nothing more to offer
