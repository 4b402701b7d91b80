"""The staff chat: `streamlit run app/main.py`. A thin page over retrieval's answer pipeline."""

from __future__ import annotations

import hmac
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` adds app/ only

import streamlit as st  # noqa: E402

from app import services, views  # noqa: E402
from retrieval.answer import Answer, Turn, answer_question  # noqa: E402
from retrieval.errors import UserError
from retrieval.llm import LLMError, open_chat  # noqa: E402

RETRIEVAL_ONLY = "Retrieval only (no model)"
log = logging.getLogger("app")

st.set_page_config(page_title="Docs QA", page_icon=":material/menu_book:", layout="centered")


def require_login(settings) -> None:
    """When RAG_APP_PASSWORD is set, nobody reaches the chat without it."""
    if settings.app_password is None or st.session_state.get("signed_in"):
        return
    st.title("Docs QA")
    with st.form("login"):
        password = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in"):
            expected = settings.app_password.get_secret_value()
            if hmac.compare_digest(password.encode(), expected.encode()):
                st.session_state.signed_in = True
                st.rerun()
            st.error("Wrong password.")
    st.stop()


def open_backend(settings):
    try:
        return services.backend(settings.fingerprint(), settings)
    except Exception as exc:  # the page must explain, never show a traceback
        log.exception("cannot open the index")
        st.error(f"Cannot open the index: {views.friendly(str(exc))}", icon=":material/error:")
        st.stop()


def sidebar(settings, back) -> tuple[str, int]:
    """Model picker, top-k, index status, new chat, re-ingest. Returns (model, k)."""
    with st.sidebar:
        st.header(":material/menu_book: Docs QA")
        choices = settings.model_choices() + [RETRIEVAL_ONLY]
        model = st.selectbox("Model", choices, key="model", format_func=model_label(settings))
        if model == RETRIEVAL_ONLY and not settings.model_choices():
            st.caption("No language model configured: set `RAG_LLM` in `.env` (see README).")
        k = st.slider("Passages per answer (top-k)", 1, 20, settings.top_k, key="top_k")
        if st.button("New chat", icon=":material/add_comment:", width="stretch"):
            st.session_state.history = []
            st.rerun()
        st.divider()
        index_status(back)
        reingest_panel(settings, back)
    return ("" if model == RETRIEVAL_ONLY else model), k


def model_label(settings):
    """Show what a picker entry really runs, e.g. 'ollama-r1 (deepseek-r1:7b)'."""

    def label(name: str) -> str:
        entry = settings.model_entry(name) if name != RETRIEVAL_ONLY else None
        return f"{name} ({entry.model})" if entry and entry.model != name else name

    return label


def index_status(back) -> None:
    info = back.status()
    st.subheader("Index")
    if info is None:
        st.caption("Empty: nothing ingested yet.")
        return
    st.caption(
        f"**{info.docs}** documents · **{info.chunks}** chunks  \n"
        f"Embedding model: `{info.embedding_model}`  \nLast ingest: {info.ingested_at}  \n"
        f"Index: `{back.retriever.store.location.label}`"
    )


def reingest_panel(settings, back) -> None:
    with st.expander("Admin: re-ingest docs"):
        st.caption(f"Folder: `{settings.docs_dir}`")
        password = ""
        if settings.admin_password is not None:
            password = st.text_input("Admin password", type="password", key="admin_pw")
        if not st.button("Re-ingest docs", width="stretch"):
            return
        expected = settings.admin_password.get_secret_value() if settings.admin_password else ""
        if not hmac.compare_digest(password.encode(), expected.encode()):
            st.error("Wrong admin password.")
            return
        run_reingest(settings, back)


def run_reingest(settings, back) -> None:
    with st.status("Re-ingesting…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"{stage}: {done}/{total}")

        try:
            summary = services.reingest(settings, back, on_progress)
        except UserError as exc:
            status.update(label="Re-ingest failed", state="error")
            st.error(views.friendly(str(exc)))
            return
        st.session_state.last_ingest = summary
        status.update(label="Re-ingest finished", state="complete")
    summary = st.session_state.last_ingest
    st.success(
        f"{summary.docs_added} added · {summary.docs_updated} updated · "
        f"{summary.docs_removed} removed · {len(summary.docs_failed)} failed"
    )
    for failure in summary.docs_failed:
        st.caption(f"Skipped `{failure.path}`: {failure.error}")


def chat_client(settings, model: str):
    """The chat model for this turn, or None (retrieval-only) with the reason shown."""
    if not model:
        return None
    try:
        return open_chat(settings, model)
    except LLMError as exc:
        st.warning(f"{views.friendly(str(exc))}. Showing passages only.", icon=":material/key:")
        return None


def redraw_history() -> None:
    for turn in st.session_state.history:
        with st.chat_message("user"):
            st.markdown(turn["question"])
        with st.chat_message("assistant"):
            views.render_answer(turn["answer"])


def ask(settings, back, question: str, model: str, k: int) -> None:
    history = [Turn(t["question"], t["answer"].answer) for t in st.session_state.history]
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        chat = chat_client(settings, model)
        try:
            events = answer_question(question, history, back.retriever, chat, settings, k)
            answer = views.stream_answer(events)
        except Exception as exc:  # a friendly message, never a traceback
            log.exception("answering failed")
            message = f"something went wrong while answering ({exc})"
            answer = Answer("", status="error", error=message)
            views.render_answer(answer)
    st.session_state.history.append({"question": question, "answer": answer})


def main() -> None:
    settings = services.settings()
    require_login(settings)
    back = open_backend(settings)
    st.session_state.setdefault("history", [])
    model, k = sidebar(settings, back)
    st.title("Ask the docs")
    if back.status() is None:
        st.info(
            "The index is empty. Run the ingest first: `make ingest` "
            "(or `python -m ingest`), or use **Admin: re-ingest docs** in the sidebar."
        )
        st.stop()
    redraw_history()
    if question := st.chat_input("Ask a question about the docs"):
        ask(settings, back, question, model, k)


main()
