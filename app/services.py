"""Wiring for the app: shared resources (cached per process) and the re-ingest job.

The re-ingest runs `python -m ingest` as a separate process, the job the admin would run by
hand, connected to the same index through the local server, so staff keep chatting meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from retrieval.jobs import run_ingest_job
from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from retrieval.store import IndexInfo, Store, local_server
from retrieval.types import IngestReport


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
    uri = _settings.store_uri
    if _settings.local_server and local_server.is_local_path(uri):
        uri = local_server.ensure_server(uri)
    live = _settings.updated(store_uri=uri)
    return Backend(uri, Retriever(live, Store(live)))


def reingest(
    settings: Settings, back: Backend, on_progress: Callable[[str, int, int], None]
) -> IngestReport:
    """Run the ingest job against the served index; returns its report."""
    return run_ingest_job(settings.docs_dir, back.uri, on_progress=on_progress)
