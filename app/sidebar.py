"""The sidebar: who is signed in, the user's chats, the model and top-k, the index, admin."""

from __future__ import annotations

from datetime import date, datetime

import streamlit as st

from accounts.chats import ChatStore, Conversation, by_date
from app import auth, services, views
from app.chat import Page, switch_to
from app.i18n import LANGUAGES, t, ui_language
from ingest.syncstatus import read_status
from retrieval.errors import UserError


def draw(page: Page) -> tuple[str, int]:
    """Returns (model, k) for this run's question."""
    with st.sidebar:
        st.header(":material/menu_book: Docs QA")
        who(page)
        conversations(page)
        st.divider()
        knowledge_picker(page)
        model, k = answer_settings(page)
        st.divider()
        index_status(page)
        if page.user.admin or page.settings.admin_password is not None:
            reingest_panel(page)
        if page.user.admin:
            upload_panel(page)
    return model, k


def who(page: Page) -> None:
    current = ui_language()
    choice = st.segmented_control(
        t("language"), list(LANGUAGES), default=current, format_func=LANGUAGES.get, key="lang_pick"
    )
    if choice and choice != current:
        st.session_state.ui_lang = choice
        st.rerun()
    if page.settings.auth_mode() != "none":
        st.caption(t("signed_in_as", name=views.plain(page.user.label)))
        auth.sign_out_button()


def conversations(page: Page) -> None:
    # a callback runs first thing in the click's run, so a pick made while the page redraws
    # (which starts another run and may cut this one short) cannot lose the click
    st.button(
        t("new_chat"),
        icon=":material/add_comment:",
        width="stretch",
        key="new_chat",
        on_click=switch_to,
        args=(None,),
    )
    if page.chats is None:
        return
    search = st.text_input(t("search_chats"), key="chat_search", icon=":material/search:")
    listed = page.save(ChatStore.conversations, search) or []
    if not listed:
        st.caption(t("no_chats"))
    current = st.session_state.get("conversation")
    for group, chats in by_date(listed[:50], date.today()):
        st.caption(t(f"chats_{group}"))
        for chat in chats:
            chat_button(chat, current)
    if current:
        manage_current(page, current, next((c for c in listed if c.id == current), None))


def chat_button(chat: Conversation, current: str | None) -> None:
    """One chat in the list, its last activity's date and time on hover."""
    kind = "primary" if chat.id == current else "tertiary"
    when = datetime.fromtimestamp(chat.updated).strftime("%Y-%m-%d %H:%M")
    label = views.plain(chat.title)
    st.button(
        label,
        key=f"chat-{chat.id}",
        type=kind,
        width="stretch",
        help=when,
        on_click=switch_to,
        args=(chat.id,),
    )


def manage_current(page: Page, current: str, chat) -> None:
    with st.popover(t("rename"), icon=":material/edit_note:", width="stretch"):
        title = st.text_input(t("rename"), value=chat.title if chat else "", key="rename_to")
        if st.button(t("save"), key="rename_save"):
            page.save(ChatStore.rename, current, title)
            st.rerun()
    if st.button(t("delete"), icon=":material/delete:", key="delete_chat", width="stretch"):
        page.save(ChatStore.delete, current)
        switch_to(None)
        st.rerun()


def knowledge_picker(page: Page) -> None:
    """The "Search in" pick: knowledge bases this user may read (none picked: all of them);
    the pick belongs to the conversation (kept with it, and by its follow-ups)."""
    info = page.back.status()
    if info is None:
        return
    bases = services.readable_bases(page.back, page.user.access, info)
    if len(bases) < 2:
        return
    known, lang = services.knowledge(page.settings), ui_language()
    picked = [b for b in st.session_state.get("knowledge_pick", []) if b in bases]
    st.session_state.knowledge_pick = picked  # a base gone from the index (or closed) drops
    chosen = st.multiselect(
        t("search_in"),
        list(bases),
        key="knowledge_pick",
        format_func=lambda name: known.base(name).label(lang),
        placeholder=t("search_in_all"),
        help=t("search_in_help"),
    )
    page.knowledge = tuple(sorted(chosen))
    conversation = st.session_state.get("conversation")
    if conversation and st.session_state.get("conversation_knowledge") != page.knowledge:
        page.save(ChatStore.set_knowledge, conversation, page.knowledge)
        st.session_state.conversation_knowledge = page.knowledge


def answer_settings(page: Page) -> tuple[str, int]:
    settings = page.settings
    names = {model_label(settings, name): name for name in settings.model_choices()}
    names[t("retrieval_only")] = ""
    picked = st.selectbox(t("model"), list(names), key="model")
    if not names[picked] and not settings.model_choices():
        st.caption(t("no_model"))
    k = st.slider(t("top_k"), 1, 20, settings.top_k, key="top_k")
    return names[picked], k


def model_label(settings, name: str) -> str:
    """What a picker entry really runs, e.g. 'ollama-r1 (deepseek-r1:7b)'."""
    entry = settings.model_entry(name)
    return f"{name} ({entry.model})" if entry and entry.model != name else name


def index_status(page: Page) -> None:
    info = page.back.status()
    st.subheader(t("index"))
    if info is None:
        st.caption(t("index_empty"))
        return
    docs, chunks = services.visible_counts(page.back, page.access, info.version)
    st.caption(t("index_line", docs=docs, chunks=chunks, model=info.embedding_model,
                 at=info.ingested_at))  # fmt: skip
    if page.user.admin:  # where the index lives (its path, its server's socket): admins only
        st.caption(t("index_where", where=page.back.retriever.store.location.label))
        sync_status(page)


def reingest_panel(page: Page) -> None:
    """Admins re-ingest; without users, RAG_ADMIN_PASSWORD (when set) guards it."""
    settings = page.settings
    with st.expander(t("reingest")):
        if page.user.admin:  # a path on the server: not for whoever knows the admin password
            st.caption(f"`{settings.docs_dir}`")
        password = ""
        if not page.user.admin:
            password = st.text_input(t("admin_password"), type="password", key="admin_pw")
        if not st.button(t("reingest_button"), width="stretch"):
            return
        if not page.user.admin and not services.admin_password_ok(settings, password):
            st.error(t("wrong_admin_password"))
            return
        run_reingest(page)


def run_reingest(page: Page) -> None:
    with st.status("…", expanded=True) as status:
        bar = st.progress(0.0, text="starting")

        def on_progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"{stage}: {done}/{total}")

        try:
            summary = services.reingest(page.settings, on_progress)
        except UserError as exc:
            status.update(label="Re-ingest failed", state="error")
            st.error(views.friendly(str(exc)))
            return
        status.update(label="Re-ingest finished", state="complete")
    st.success(
        f"{summary.docs_added} added · {summary.docs_updated} updated · "
        f"{summary.docs_removed} removed · {len(summary.docs_failed)} failed"
    )
    for failure in summary.docs_failed:
        st.caption(f"Skipped `{failure.path}`: {failure.error}")


def sync_status(page: Page) -> None:
    """The last sync (the watcher's, or any ingest's): when, what changed, what failed."""
    status = read_status(page.settings)
    if status is None:
        return
    st.caption(t("last_sync", at=status.at, changes=views.plain(status.changes)))
    if status.failed:
        with st.expander(t("sync_failures", n=len(status.failed))):
            for failure in status.failed[:50]:
                st.caption(f"`{views.plain(failure['path'])}`: {views.plain(failure['error'])}")


def upload_panel(page: Page) -> None:
    """Admins put files into a folder of the docs; the next sync ingests them."""
    settings = page.settings
    with st.expander(t("upload")):
        folders = services.doc_folders(settings.docs_dir)
        folder = st.selectbox(t("upload_folder"), folders, key="upload_folder")
        files = st.file_uploader(
            t("upload_files"),
            type=[e.lstrip(".") for e in settings.doc_extensions],
            accept_multiple_files=True,
            key=f"upload-{st.session_state.get('uploads', 0)}",
        )
        if not files or not st.button(t("save"), key="upload_save"):
            return
        try:
            saved = services.save_uploads(settings, folder, [(f.name, f.getvalue()) for f in files])
        except UserError as exc:
            st.error(t("upload_refused", why=str(exc)))
            return
        st.session_state.uploads = st.session_state.get("uploads", 0) + 1
        st.success(t("upload_saved", names=", ".join(f"`{n}`" for n in saved)))
