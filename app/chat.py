"""The chat page: conversations that last, answers with sources you can open, feedback,
stop / regenerate / edit / copy. State lives in the chat store; session state caches it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import streamlit as st

from accounts.chats import NO_SOURCE, ChatStore, ChatStoreError, Feedback, source_key
from accounts.users import User
from app import services, views
from app.i18n import t, ui_language
from ingest.syncstatus import read_progress
from retrieval.access import Access
from retrieval.answer import Answer, Source, Turn, answer_question
from retrieval.errors import UserError
from retrieval.limits import LimitError, RateLimit, check_k, within_budget_stream
from retrieval.llm import LLMError, open_chat
from retrieval.settings import Settings
from retrieval.sources import open_section, read_document

log = logging.getLogger("app.chat")


@dataclass
class Page:
    """What every part of the page needs: who is asking, and where things are."""

    settings: Settings
    user: User
    back: services.Backend
    chats: ChatStore | None
    knowledge: tuple[str, ...] = ()  # the knowledge bases picked (empty: all)

    @property
    def access(self) -> Access:
        """What this page's searches, sources and counts may read: the user's documents,
        within the knowledge bases picked."""
        return self.user.access.within(self.knowledge)

    def save(self, action, *args):
        """Run a chat-store action; on failure say so once and go on without saving."""
        if self.chats is None:
            return None
        try:
            return action(self.chats, self.user.name, *args)
        except ChatStoreError as exc:
            st.session_state.history_error = str(exc)
            return None


def admin_page(page: Page, title: str) -> bool:
    """An admins' page: its title, and whether it can go on. Others are stopped here too (a
    page is never trusted to be hidden); without the chat store it says so and cannot."""
    st.title(title)
    if not page.user.admin:
        st.error(t("admins_only"))
        st.stop()
    if page.chats is None:
        st.warning(t("history_unavailable", error=st.session_state.get("history_error", "")))
        return False
    return True


# --- conversation state -----------------------------------------------------------------------


def open_conversation(page: Page) -> None:
    """Follow the URL (?chat=ID): load that conversation, or say it is gone."""
    wanted = st.query_params.get("chat")
    if "conversation" in st.session_state and wanted == st.session_state.conversation:
        return
    st.session_state.history = []
    st.session_state.conversation = None
    if not wanted:
        return
    found = page.save(ChatStore.get, wanted)
    if found is None:
        st.query_params.pop("chat", None)
        st.info(t("chat_gone"), icon=":material/chat_error:")
        return
    st.session_state.conversation = found.id
    st.session_state.knowledge_pick = list(found.knowledge)  # its follow-ups search there too
    st.session_state.conversation_knowledge = found.knowledge
    messages = page.save(ChatStore.messages, found.id) or []
    st.session_state.history = [
        {"id": m.id, "question": m.question, "answer": m.answer} for m in messages
    ]


def switch_to(conversation_id: str | None) -> None:
    """Open a conversation, or a new chat (None), which searches everything until picked: the
    sidebar's buttons call it as their callback, first thing in the click's run, which then
    opens the chat from the URL. The pick is reset here and not when the chat opens, so a pick
    made just after the click is not undone."""
    if conversation_id:
        st.query_params["chat"] = conversation_id
    else:
        st.query_params.pop("chat", None)
        st.session_state.knowledge_pick = []
    st.session_state.pop("conversation", None)  # reloaded from the URL by open_conversation


def keep(page: Page, question: str, answer: Answer, replaces: int | None) -> None:
    """Store an exchange (a new chat starts with its first question) and show it."""
    if replaces is not None:
        page.save(ChatStore.drop_message, replaces)
        st.session_state.history = [h for h in st.session_state.history if h["id"] != replaces]
    conversation = st.session_state.get("conversation")
    if conversation is None and page.chats is not None:
        created = page.save(ChatStore.create, question, page.knowledge)
        if created is not None:
            conversation = st.session_state.conversation = created.id
            st.session_state.conversation_knowledge = created.knowledge
            st.query_params["chat"] = created.id
    info = page.back.status()
    version = info.version if info else 0
    message_id = None
    if conversation is not None:
        message_id = page.save(ChatStore.add_message, conversation, question, answer, version)
    st.session_state.history.append({"id": message_id, "question": question, "answer": answer})


def finish_stopped(page: Page) -> None:
    """An answer interrupted by Stop (or any click while it streamed) is kept as it got."""
    pending = st.session_state.pop("pending", None)
    if not pending:
        return
    partial = Answer(
        pending.get("answer", "").strip(),
        pending.get("reasoning", "").strip(),
        pending.get("sources", []),
        pending.get("model", ""),
        pending.get("query", ""),
        status="answered",
    ).stopped()
    keep(page, pending["question"], partial, pending.get("replaces"))


# --- asking -----------------------------------------------------------------------------------


def chat_client(settings: Settings, model: str):
    """The chat model for this turn, or None (retrieval-only) with the reason, which the
    answer keeps as a notice."""
    if not model:
        return None, ""
    try:
        return open_chat(settings, model), ""
    except LLMError as exc:
        return None, f"{views.friendly(str(exc))}. Showing passages only."


def ask(page: Page, question: str, model: str, k: int, replaces: int | None = None) -> None:
    earlier = [h for h in st.session_state.history if h["id"] != replaces or replaces is None]
    history = [Turn(h["question"], h["answer"].answer) for h in earlier]
    with st.chat_message("user"):
        st.markdown(views.plain(question))
    with st.chat_message("assistant"):
        chat, why_not = chat_client(page.settings, model)
        if why_not:
            st.warning(why_not, icon=":material/key:")
        progress = {"question": question, "model": chat.name if chat else "", "replaces": replaces}
        st.session_state.pending = progress
        if chat is not None:
            st.button(t("stop"), icon=":material/stop_circle:", key="stop")
        try:
            retriever = page.back.retriever
            events = within_budget_stream(  # the API's and MCP's time budget too
                answer_question(
                    question, history, retriever, chat, page.settings, k, access=page.access
                ),
                page.settings.request_budget_s,
            )
            answer = views.stream_answer(events, progress)
        except UserError as exc:
            answer = Answer("", status="error", error=str(exc))
            views.render_answer(answer)
        except Exception as exc:  # a friendly message, never a traceback
            log.exception("answering failed")
            answer = Answer("", status="error", error=f"something went wrong ({exc})")
            views.render_answer(answer)
    st.session_state.pop("pending", None)
    if why_not:
        answer = replace(answer, notices=[why_not, *answer.notices])
    keep(page, question, answer, replaces)
    st.rerun()  # redraw as stored: feedback and controls under the new answer


# --- drawing the conversation -----------------------------------------------------------------


def source_dialog(page: Page, source: Source) -> None:
    st.dialog(t("source_title"), width="large")(show_source)(page, source)


def show_source(page: Page, source: Source) -> None:
    """The cited passage in its whole section; admins can open the whole document."""
    heading = source.heading or "(top of document)"
    st.markdown(f"**{views.plain(source.doc)}** › {views.plain(heading)}")
    try:
        store, docs = page.back.retriever.store, page.settings.docs_dir
        section = open_section(store, docs, source.doc, source.heading, access=page.access)
    except Exception as exc:  # the index may be rebuilding; say so, never a traceback
        st.error(views.friendly(f"cannot open the section ({exc})"))
        return
    views.render_section(section, source.text)
    if page.user.admin and st.toggle(t("open_document"), key="whole_doc"):
        text = read_document(page.settings.docs_dir, source.doc)
        st.divider()
        st.markdown(text) if text else st.caption(t("doc_missing"))


def draw_history(page: Page) -> None:
    history = st.session_state.history
    for position, turn in enumerate(history):
        with st.chat_message("user"):
            st.markdown(views.plain(turn["question"]))
        with st.chat_message("assistant"):
            answer: Answer = turn["answer"]
            key = f"m{turn['id'] or position}"
            strong_elsewhere(page, turn["question"], answer.elsewhere, key)
            views.render_answer(answer)
            searched_in(page, answer)
            views.render_sources(answer.sources, lambda s: source_dialog(page, s), key)
            views.render_timing(answer)
            if turn["id"] is not None and answer.status != "error":
                feedback_controls(page, turn, key)
            if position == len(history) - 1:
                last_turn_controls(turn, key)


def strong_elsewhere(page: Page, question: str, base: str, key: str) -> None:
    """Above an answer whose bases matched only weakly: another base the user may read has a
    strong match, and one click asks the question again there."""
    if not base:
        return
    label = services.knowledge(page.settings).base(base).label(ui_language())
    st.info(t("elsewhere", name=views.plain(label)), icon=":material/travel_explore:")
    st.button(t("search_there", name=views.plain(label)), key=f"{key}-elsewhere",
              icon=":material/search:", on_click=search_there, args=(question, base))  # fmt: skip


def search_there(question: str, base: str) -> None:
    """Before the next run draws the picker: pick `base` and ask the question again."""
    st.session_state.knowledge_pick = [base]
    st.session_state.redo = {"question": question, "replaces": None}


def searched_in(page: Page, answer: Answer) -> None:
    """Which knowledge bases an answer came from, when it was pointed at some."""
    if not answer.knowledge:
        return
    known, lang = services.knowledge(page.settings), ui_language()
    names = ", ".join(known.base(name).label(lang) for name in answer.knowledge)
    st.caption(t("searched_in", names=views.plain(names)))


def feedback_controls(page: Page, turn: dict, key: str) -> None:
    given: Feedback | None = page.save(ChatStore.feedback_on, turn["id"])
    default = given.thumbs if given else None
    thumbs = st.feedback("thumbs", key=f"{key}-thumbs", default=default)
    if thumbs is None:
        return
    if thumbs == 1:
        if given is None or given.thumbs != 1:
            page.save(ChatStore.give_feedback, turn["id"], 1)
        return
    if given is not None and given.thumbs == 0 and st.session_state.get(f"{key}-sent"):
        st.caption(t("feedback_thanks"))
        return
    with st.form(f"{key}-why", border=True):
        limit = page.settings.max_comment_chars
        comment = st.text_area(t("feedback_comment"), max_chars=limit, key=f"{key}-comment")
        picks: dict[str, str | None] = {"—": None}
        picks |= {
            source_key(s.doc, s.heading): source_key(s.doc, s.heading)
            for s in turn["answer"].sources
        }
        picks[t("feedback_none")] = NO_SOURCE
        right = st.selectbox(t("feedback_source"), list(picks), key=f"{key}-right")
        if st.form_submit_button(t("feedback_send")):
            page.save(ChatStore.give_feedback, turn["id"], 0, comment.strip(), picks[right])
            st.session_state[f"{key}-sent"] = True
            st.rerun()


def last_turn_controls(turn: dict, key: str) -> None:
    regenerate, edit, copy = st.columns([1, 1, 1], gap="small", width=420)
    if regenerate.button(t("regenerate"), icon=":material/refresh:", key=f"{key}-redo"):
        st.session_state.redo = {"question": turn["question"], "replaces": turn["id"]}
        st.rerun()
    with edit.popover(t("edit"), icon=":material/edit:"), st.form(f"{key}-edit", border=False):
        changed = st.text_area(t("edit"), value=turn["question"], label_visibility="collapsed")
        if st.form_submit_button(t("send")) and changed.strip():
            st.session_state.redo = {"question": changed, "replaces": turn["id"]}
            st.rerun()
    with copy.popover(t("copy"), icon=":material/content_copy:"):
        st.code(turn["answer"].answer or "", language="markdown", wrap_lines=True)


def empty_index(page: Page) -> None:
    """Nothing published yet: the first ingest's progress while it runs (the page follows it
    and answers once it is done), else how to run one."""
    running = read_progress(page.settings)
    if running is None:
        st.info(t("empty_index"))
        st.stop()
    known = running.stage in ("files", "chunks", "embedding")
    stage = t(f"stage_{running.stage}") if known else ""
    st.info(t("first_ingest", done=running.done, total=running.total, stage=stage))
    views.retry_soon()


def render(page: Page, model: str, k: int) -> None:
    """The chat: the conversation so far, then a new question (typed, or redone)."""
    finish_stopped(page)
    st.title(t("title"))
    if error := st.session_state.get("history_error"):
        if not page.user.admin:  # the file's path is for admins (and the log), not staff
            error = "answers still work but are not saved."
        st.warning(t("history_unavailable", error=error), icon=":material/database:")
    if page.back.status() is None:
        empty_index(page)
    draw_history(page)
    question = st.chat_input(t("ask_placeholder"))
    if redo := st.session_state.pop("redo", None):
        if admitted(page, k):
            ask(page, redo["question"], model, k, replaces=redo["replaces"])
    elif question and admitted(page, k):
        ask(page, question, model, k)


@st.cache_resource(show_spinner=False)
def chat_rate(per_minute: int) -> RateLimit:
    """One rate per signed-in user for the whole process (every tab and session of theirs)."""
    return RateLimit(per_minute)


def admitted(page: Page, k: int) -> bool:
    """The limits the API and MCP apply, before any work: k and the user's rate here (the
    question's length and emptiness: the answer pipeline's first check, the same setting,
    whose reply shows in the conversation)."""
    try:
        check_k(k)
        chat_rate(page.settings.api_rate_per_minute).check(page.user.name)
    except LimitError as exc:
        st.warning(str(exc), icon=":material/block:")
        return False
    return True
