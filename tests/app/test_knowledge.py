"""Knowledge bases in the chat (AppTest, real index of docs_corpus/ with its knowledge.toml,
fake LLM server): the pick limits every passage, is kept with the conversation and its
follow-ups, shows on each answer, and a base a user may not read is never offered."""

from __future__ import annotations

import pytest

from accounts.chats import ChatStore
from accounts.users import Account, User, hash_password, save_account
from tests.app.conftest import ask, doc_count, texts
from tests.app.test_chat import PASSWORD, sign_in

HR_DOCS = ("handbook/", "onboarding/")  # the hr base of docs_corpus/knowledge.toml


@pytest.fixture()
def users(env, monkeypatch, tmp_path):
    hashed = hash_password(PASSWORD)
    path = tmp_path / "users.jsonl"
    save_account(path, Account(User("ana", "Ana", ("hr",), False), hashed))
    save_account(path, Account(User("bo", "Bo"), hashed))
    monkeypatch.setenv("RAG_USERS_FILE", str(path))
    env("chat")
    return path


def picker(at):
    return at.sidebar.multiselect(key="knowledge_pick")


def sources_of(users, name: str, chat: str) -> list[list[str]]:
    store = ChatStore(users.parent / "chats.sqlite")
    return [[s.doc for s in m.answer.sources] for m in store.messages(name, chat)]


def test_a_picked_base_limits_answers_follow_ups_and_counts(users):
    at = sign_in("bo")
    assert "private" not in picker(at).options  # closed to bo: never offered (labels)
    assert {"HR handbook", "IT help", "Engineering and on-call"} <= set(picker(at).options)
    everything = doc_count(at)
    picker(at).set_value(["hr"]).run()
    assert doc_count(at) == 13 < everything  # the counts are the pick's
    at = ask(at, "How do I reset my VPN password?")
    at = ask(at, "And how many days of annual leave do I get?")
    chat = at.query_params["chat"]
    found = sources_of(users, "bo", chat)
    assert found[1] and all(doc.startswith(HR_DOCS) for turn in found for doc in turn)
    assert any("Searched in: HR handbook" in c for c in texts(at.caption))
    again = sign_in("bo", chat=chat)  # tomorrow: the conversation still searches hr
    assert picker(again).value == ["hr"]
    again = ask(again, "Who approves it?")
    assert all(doc.startswith(HR_DOCS) for doc in sources_of(users, "bo", chat)[-1])
    picker(again).set_value(["it"]).run()
    again = ask(again, "How do I reset my VPN password?")
    last = sources_of(users, "bo", chat)[-1]
    assert last and all(doc.startswith("it/") for doc in last)
    assert ChatStore(users.parent / "chats.sqlite").get("bo", chat).knowledge == ("it",)


def test_a_group_limited_base_is_offered_to_its_group_only(users):
    at = sign_in("ana")
    assert "private" in picker(at).options
    picker(at).set_value(["private"]).run()
    assert doc_count(at) == 1
    at = ask(at, "What does salary band K pay?")
    [turn] = sources_of(users, "ana", at.query_params["chat"])
    assert turn and all(doc.startswith("private/") for doc in turn)
