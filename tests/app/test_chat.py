"""The second chat under AppTest: users, conversations that last, feedback, answer controls,
sources, Chinese, and the ways it can break (real app, real index, fake LLM server)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from accounts.chats import ChatStore, source_key, title_for
from accounts.users import Account, User, hash_password, save_account
from prompts.templates import CANNOT_ANSWER_ZH
from tests.app.conftest import APP, QUESTION, ask, doc_count, labels, no_traceback, start, texts

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def hashed():
    return hash_password(PASSWORD)


@pytest.fixture()
def users(env, monkeypatch, tmp_path, hashed):
    path = tmp_path / "users.jsonl"
    save_account(path, Account(User("ana", "Ana Admin", ("hr",), True), hashed))
    save_account(path, Account(User("bo", "Bo"), hashed))
    monkeypatch.setenv("RAG_USERS_FILE", str(path))
    env("chat")
    return path


def sign_in(name: str, chat: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if chat:
        at.query_params["chat"] = chat
    at.run()
    assert not at.chat_input  # nobody reaches the chat without signing in
    at.text_input[0].input(name)
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and at.chat_input, texts(at.error)
    return at


def chat_titles(at: AppTest) -> list[str]:
    return [
        b.label.replace("\\", "") for b in at.sidebar.button if b.key and b.key.startswith("chat-")
    ]


def test_conversations_last_and_stay_private(users):
    at = ask(sign_in("ana"))
    assert chat_titles(at) == [title_for(QUESTION)]
    conversation = at.query_params["chat"]
    again = sign_in("ana", chat=conversation)  # a new session: a reload, or tomorrow
    assert [m.name for m in again.chat_message] == ["user", "assistant"]
    assert any(t.startswith("According to the docs") for t in texts(again.markdown))
    other = sign_in("bo", chat=conversation)  # the URL of another user's chat
    assert chat_titles(other) == [] and not other.chat_message
    assert any("no longer exists" in i for i in texts(other.info))


def test_rename_search_and_delete(users):
    at = ask(sign_in("ana"))
    at = ask(at, "And what about the VPN?")
    at.sidebar.button(key="new_chat").click().run()
    at = ask(at, "Where do I report a lost laptop?")
    assert chat_titles(at) == ["Where do I report a lost laptop?", title_for(QUESTION)]
    at.sidebar.text_input(key="chat_search").input("VPN").run()
    assert chat_titles(at) == [title_for(QUESTION)]  # found through a later question
    at.sidebar.text_input(key="chat_search").input("").run()
    at.sidebar.button(key=f"chat-{chat_titles_ids(at)[1]}").click().run()
    assert len(at.chat_message) == 4
    at.sidebar.text_input(key="rename_to").input("Leave and VPN")
    at.sidebar.button(key="rename_save").click().run()
    assert "Leave and VPN" in chat_titles(at)
    gone = at.query_params["chat"]
    at.sidebar.button(key="delete_chat").click().run()
    assert chat_titles(at) == ["Where do I report a lost laptop?"] and not at.chat_message
    assert ChatStore(users.parent / "chats.sqlite").get("ana", gone) is None


def chat_titles_ids(at: AppTest) -> list[str]:
    keys = [b.key or "" for b in at.sidebar.button]
    return [k.removeprefix("chat-") for k in keys if k.startswith("chat-")]


def test_thumbs_down_with_a_comment_reaches_the_admin(users):
    at = ask(sign_in("bo"))
    at.feedback[0].set_value(0).run()
    comment = next(a for a in at.text_area if a.key.endswith("-comment"))
    comment.input("<b>Wrong</b> page, see [here](http://x)")
    right = next(s for s in at.selectbox if s.key.endswith("-right"))
    right.select(right.options[1])
    at.button(key=next(b.key for b in at.button if "why" in (b.key or ""))).click().run()
    assert not at.exception
    store = ChatStore(users.parent / "chats.sqlite")
    [item] = store.feedback(only_down=True)
    assert item.user == "bo" and item.comment.startswith("<b>Wrong</b>")
    assert item.right_source == source_key(*at_source(item)) and item.model
    with pytest.raises(ValueError):  # bo is no admin: the page does not exist for him
        at.switch_page("feedback_page.py")
    admin = sign_in("ana")
    admin.switch_page("feedback_page.py").run()
    assert not admin.exception
    [table] = admin.dataframe
    assert "<b>Wrong</b> page, see [here](http://x)" in table.value["comment"].tolist()
    assert admin.get("download_button")


def at_source(item) -> tuple[str, str]:
    return item.sources[0]["doc"], item.sources[0]["heading"]


def test_regenerate_and_edit_replace_the_last_answer(users):
    at = ask(sign_in("ana"))
    chat = at.query_params["chat"]
    at.button(key=next(b.key for b in at.button if b.key and b.key.endswith("-redo"))).click().run()
    store = ChatStore(users.parent / "chats.sqlite")
    assert [m.question for m in store.messages("ana", chat)] == [QUESTION]
    edited = "How many days of annual leave do part-time staff get?"
    at.text_area[-1].input(edited)
    at.button(
        key=next(b.key for b in at.form_submit_button if "edit" in str(b.form_id))
    ).click().run()
    assert [m.question for m in store.messages("ana", chat)] == [edited]
    assert len(at.chat_message) == 2


def test_a_stopped_answer_is_kept_and_marked(users):
    at = sign_in("ana")
    at.session_state.pending = {"question": QUESTION, "answer": "According to the docs, you",
                                "model": "chat", "sources": [], "replaces": None}  # fmt: skip
    at.run()
    assert any(t.startswith("According to the docs, you") for t in texts(at.markdown))
    assert any("Stopped" in c for c in texts(at.caption))
    store = ChatStore(users.parent / "chats.sqlite")
    [message] = store.messages("ana", at.query_params["chat"])
    assert message.answer.status == "stopped"


def test_timing_and_sources_that_open(users):
    at = ask(sign_in("ana"))
    timing = [c for c in texts(at.caption) if "retrieval" in c and "total" in c]
    assert timing and timing[0].startswith("chat") and "first token" in timing[0]
    at.button(
        key=next(b.key for b in at.button if b.key and b.key.endswith("-open-1"))
    ).click().run()
    assert not at.exception
    cited = [i for i in texts(at.info)]
    assert cited, "the cited passage is highlighted in its section"
    assert any("Ingested" in c for c in texts(at.caption))


def test_chinese_interface_and_cannot_answer_in_chinese(env, monkeypatch):
    env(None)
    monkeypatch.setenv("RAG_REFUSE_BELOW", "99")  # below the no-model floor: the refusal path
    at = start()
    at.sidebar.segmented_control(key="lang_pick").set_value("zh").run()
    assert any(t == "向文档提问" for t in texts(at.title))
    assert at.chat_input[0].placeholder == "就文档内容提问"
    at = ask(at, "鼹鼠嚼蜡？")  # no word in common with the docs: BM25 confirms nothing
    assert any(CANNOT_ANSWER_ZH in t for t in texts(at.chat_message[-1].markdown))


def test_a_weak_match_is_said_plainly_beside_the_passages_or_the_answer(env, monkeypatch):
    from prompts.templates import WEAK_MATCH_ANSWER, WEAK_MATCH_ZH

    env(None)
    monkeypatch.setenv("RAG_WEAK_BELOW", "99")  # every match counts as weak
    at = ask(start(), "全职员工每年有几天带薪年假？")
    reply = at.chat_message[-1]
    assert WEAK_MATCH_ZH in texts(reply.warning)  # in the question's language, above them
    assert len(reply.expander) >= 3  # the passages are still there: nothing is hidden
    env("chat")
    at = ask(start())
    reply = at.chat_message[-1]
    assert WEAK_MATCH_ANSWER in texts(reply.warning) and len(reply.expander) >= 3
    no_traceback(at)


def test_an_answer_its_sources_do_not_support_is_marked(env):
    from prompts.templates import UNCITED

    env("cite-bad")  # cites [9]: no passage
    reply = ask(start()).chat_message[-1]
    assert UNCITED in texts(reply.warning) and len(reply.expander) >= 3
    env("misquote")  # cites [1], then gives a figure [1] does not hold
    reply = ask(start()).chat_message[-1]
    assert any("987" in w and "check it against the sources" in w for w in texts(reply.warning))


def test_a_damaged_history_file_still_answers(env, monkeypatch, tmp_path):
    env("chat")
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"garbage" * 500)
    monkeypatch.setenv("RAG_CHAT_DB", str(broken))
    at = ask(start())
    assert any("not saved" in w for w in texts(at.warning))
    assert any(t.startswith("According to the docs") for t in texts(at.markdown))
    assert broken.read_bytes() == b"garbage" * 500
    no_traceback(at)


def test_a_bad_users_line_is_reported_and_the_others_sign_in(users):
    with users.open("a") as handle:
        handle.write('{"name": "cy", "hash": "not-a-hash"}\n')
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert any("line 3" in w for w in texts(at.warning))
    ask(sign_in("ana"))


def test_injection_in_a_question_is_shown_as_text(users):
    at = ask(sign_in("bo"), "**bold** <img src=x onerror=alert(1)> :red[red] [link](http://x)")
    shown = texts(at.chat_message[0].markdown)[0]
    assert "\\*\\*bold\\*\\*" in shown and "\\<img" in shown and "\\:red\\[" in shown
    assert "\\[link\\]" in shown
    assert all("\\" not in label for label in [])  # labels read back unescaped elsewhere
    assert labels(at)


def test_a_closed_folder_stays_closed_in_the_app(users):
    question = "What does the Kestrel salary band K pay?"
    bo = ask(sign_in("bo"), question)  # bo has no group 'hr'
    shown = " ".join(labels(bo) + texts(bo.markdown))
    assert "private/salaries.md" not in shown and "91,500" not in shown
    ana = ask(sign_in("ana"), question)  # an admin reads everything
    assert any("private/salaries.md" in label for label in labels(ana))
    assert doc_count(bo) == doc_count(ana) - 1  # the status counts only what bo may read


def test_an_admin_uploads_into_a_docs_folder(users, monkeypatch, tmp_path):
    docs = tmp_path / "updocs"
    (docs / "team").mkdir(parents=True)
    monkeypatch.setenv("RAG_DOCS_DIR", str(docs))
    at = sign_in("ana")
    at.sidebar.selectbox(key="upload_folder").select("team").run()
    uploader = at.sidebar.get("file_uploader")[0]
    uploader.set_value(("../Lisbon office.md", b"# Lisbon\n\nOpens in June.\n", "text/markdown"))
    at.run()
    at.sidebar.button(key="upload_save").click().run()
    assert not at.exception
    assert (docs / "team" / "Lisbon office.md").read_bytes().startswith(b"# Lisbon")
    assert any("next sync" in s for s in texts(at.sidebar.success))
    assert not (tmp_path / "Lisbon office.md").exists()
    bo = sign_in("bo")  # no admin: no upload panel
    assert not bo.sidebar.get("file_uploader")
