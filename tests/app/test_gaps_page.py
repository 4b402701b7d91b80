"""The doc-gap page under AppTest: an admin sees the week's gaps grouped, hides names, makes an
eval question; nobody else can open it (real app, real index, real chat store)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from accounts.chats import NO_SOURCE, ChatStore
from accounts.users import Account, User, hash_password, save_account
from app.chat import Page
from retrieval.answer import Answer, Source
from retrieval.settings import load_settings
from tests.app.conftest import labels, no_traceback, texts
from tests.app.test_chat import PASSWORD, sign_in
from tests.conftest import ROOT

VPN = "how do I reset my VPN password"
SOURCE = Source(1, "it/vpn.md", "Password reset", 0.3, "Reset it at id.example.com.")


@pytest.fixture()
def users(env, monkeypatch, tmp_path):
    path = tmp_path / "users.jsonl"
    hashed = hash_password(PASSWORD)
    save_account(path, Account(User("ana", "Ana Admin", ("hr",), True), hashed))
    save_account(path, Account(User("bo", "Bo"), hashed))
    monkeypatch.setenv("RAG_USERS_FILE", str(path))
    env("chat")
    return path


@pytest.fixture()
def store(users) -> ChatStore:
    """This week's gaps: the VPN reset in two wordings by two people, and a dog refused."""
    store, ids = ChatStore(users.parent / "chats.sqlite"), []
    for user, question, answer in [
        ("bo", VPN, Answer("Perhaps [1].", sources=[SOURCE], weak_match=True)),
        ("cy", "I forgot my VPN password, how can I change it?", Answer("", status="refused")),
        ("bo", "can I bring my dog to the office", Answer("Yes [1].", sources=[SOURCE])),
        ("bo", "Where do I report a lost laptop?", Answer("At the IT desk [1].", sources=[SOURCE])),
    ]:
        chat = store.create(user, question)
        ids.append(store.add_message(user, chat.id, question, answer))
    store.give_feedback("bo", ids[2], 0, "", NO_SOURCE)  # the dog: "none of these"
    return store


def test_an_admin_sees_the_gaps_grouped_and_makes_an_eval_question(store):
    at = sign_in("ana")
    at.switch_page("gaps_page.py").run()
    no_traceback(at)
    [table] = at.dataframe
    assert table.value["count"].tolist() == [2, 1]  # the laptop was answered: no gap
    assert table.value["question"].tolist() == [VPN, "can I bring my dog to the office"]
    assert table.value["askers"].tolist() == ["2: bo, cy", "1: bo"]
    assert labels(at)[:2] == [f"2 × {VPN}", "1 × can I bring my dog to the office"]
    at.toggle(key="gaps_hide_names").set_value(True).run()
    assert at.dataframe[0].value["askers"].tolist() == ["2", "1"]
    assert {b.label for b in at.get("download_button")} >= {"Download the report (CSV)"}

    form = next(s.key for s in at.selectbox if s.key.endswith("-doc"))[: -len("-doc")]
    at.button(key=f"{form}-make").click().run()  # no page picked yet
    assert "Pick the page that answers it" in " ".join(texts(at.warning))
    doc = at.selectbox(key=f"{form}-doc").options[2]  # after "(pick)" and "not in the docs"
    at.selectbox(key=f"{form}-doc").set_value(doc)
    at.text_input(key=f"{form}-heading").input("## Reset")
    at.button(key=f"{form}-make").click().run()
    no_traceback(at)
    [made] = store.gap_questions()
    assert (made.question, made.doc, made.heading, made.admin) == (VPN, doc, "## Reset", "ana")
    assert any(f"answered by {doc}" in c.replace("\\", "") for c in texts(at.caption))


def test_nobody_else_can_open_the_page(store):
    at = sign_in("bo")
    with pytest.raises(ValueError):  # bo is no admin: the page is not in his navigation
        at.switch_page("gaps_page.py")
    direct = AppTest.from_file(str(ROOT / "app" / "gaps_page.py"), default_timeout=60)
    direct.session_state["page"] = Page(load_settings(), User("bo", "Bo"), None, store)
    direct.run()  # the page file itself checks too
    assert [e.value for e in direct.error] == ["Only admins can open this page."]
    assert not direct.dataframe and not direct.get("download_button")
