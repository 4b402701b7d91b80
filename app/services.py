"""Wiring for the app: shared resources (cached per process) and the re-ingest job.

The re-ingest runs `python -m ingest` as a separate process, the job the admin would run by
hand, connected to the same index through the local server, so staff keep chatting meanwhile.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from accounts.chats import ChatStore, ChatStoreError
from accounts.users import LoginThrottle, SessionTokens, UsersFile, current_users
from ingest.jobs import run_ingest_job
from retrieval.knowledge import Knowledge
from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from retrieval.store import BaseCount, IndexInfo
from retrieval.types import IngestReport
from server.serving import open_served


@dataclass
class Backend:
    """What every session shares: the index connection and the embedder."""

    uri: str
    retriever: Retriever

    def status(self) -> IndexInfo | None:
        return self.retriever.store.info()


def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner="Opening the index…")
def backend(fingerprint: str, _settings: Settings) -> Backend:
    """Open the index once per process and settings (a Lite path is served through a local
    server); keyed on the settings' fingerprint, so a change to any of them takes effect."""
    return Backend(*open_served(_settings))


def reingest(settings: Settings, on_progress: Callable[[str, int, int], None]) -> IngestReport:
    """Run the ingest job against the shared index (it attaches to the same local server);
    returns its report."""
    return run_ingest_job(settings.docs_dir, settings.store_uri, on_progress=on_progress)


def users(settings: Settings) -> UsersFile:
    """The users file, re-read when it changes (a removed user is signed out on their next
    click; a bad line is reported on the sign-in page)."""
    return current_users(settings.users_path())


@st.cache_resource(show_spinner=False)
def throttle(_settings: Settings) -> LoginThrottle:
    """One throttle per process, shared by every session (per user and per address)."""
    return LoginThrottle(_settings.login_max_failures, _settings.login_pause_s)


def session_tokens(settings: Settings) -> SessionTokens:
    return SessionTokens(settings.session_key_path(), settings.session_days * 86_400)


def chat_store(settings: Settings) -> ChatStore | None:
    """The conversations file, or None with the reason in session state (the chat still
    answers, unsaved)."""
    try:
        store = _chat_store(str(settings.chat_db_path()))
    except ChatStoreError as exc:
        st.session_state.history_error = str(exc)
        return None
    st.session_state.pop("history_error", None)
    return store


@st.cache_resource(show_spinner=False)
def _chat_store(path: str) -> ChatStore:
    from pathlib import Path

    return ChatStore(Path(path))


def admin_password_ok(settings: Settings, password: str) -> bool:
    """The old admin password (constant-time compare); no password set means no admin."""
    if settings.admin_password is None:
        return False
    expected = settings.admin_password.get_secret_value()
    return hmac.compare_digest(password.encode(), expected.encode())


def visible_counts(back: Backend, access, version: int) -> tuple[int, int]:
    """(documents, chunks) this user may read in the knowledge bases picked: the index's own
    counts for admins who picked none, counted inside Milvus with the filter otherwise (cached
    per groups, pick and version)."""
    if access.groups is None and access.knowledge is None:
        info = back.status()
        return (info.docs, info.chunks) if info else (0, 0)
    return _visible_counts(back.uri, access.key, version, _back=back, _access=access)


@st.cache_data(ttl=300, show_spinner=False, max_entries=256)
def _visible_counts(uri: str, key: str, version: int, _back, _access) -> tuple[int, int]:
    return _back.retriever.store.counts(access=_access)


def readable_bases(back: Backend, access, info: IndexInfo) -> dict[str, BaseCount]:
    """knowledge base -> what this user may read of it: the list they choose from (a base
    with nothing they may read is never listed). Cached per groups and index version (and
    collection: a full build starts a new one at version 1)."""
    where = f"{back.uri}/{info.collection}"
    return _readable_bases(where, access.reader.key, info.version, _back=back, _access=access)


@st.cache_data(ttl=300, show_spinner=False, max_entries=256)
def _readable_bases(where: str, key: str, version: int, _back, _access) -> dict[str, BaseCount]:
    return _back.retriever.store.bases(access=_access)


def knowledge(settings: Settings) -> Knowledge:
    """The knowledge bases' titles (re-read every few seconds: a title edit needs no sync)."""
    return _knowledge(str(settings.docs_dir), str(settings.knowledge_file), _settings=settings)


@st.cache_data(ttl=10, show_spinner=False)
def _knowledge(docs_dir: str, path: str, _settings: Settings) -> Knowledge:
    return _settings.knowledge()


def doc_folders(docs_dir) -> list[str]:
    """The docs folder and its subfolders ('.' first), for choosing where an upload goes."""
    from pathlib import Path

    root = Path(docs_dir)
    if not root.is_dir():
        return ["."]
    folders = [p.relative_to(root) for p in root.rglob("*") if p.is_dir()]
    visible = [f for f in folders if not any(part.startswith(".") for part in f.parts)]
    return [".", *sorted(f.as_posix() for f in visible)]


def save_uploads(settings: Settings, folder: str, files: list[tuple[str, bytes]]) -> list[str]:
    """Write uploaded files into a folder of the docs (see ingest.uploads)."""
    from ingest.uploads import save_uploads as save

    return save(settings, folder, files)
