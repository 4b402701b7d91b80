"""Wiring for the app: shared resources (cached per process) and the re-ingest job.

The re-ingest runs `python -m ingest` as a separate process, the job the admin would run by
hand, connected to the same index through the local server, so staff keep chatting meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from retrieval.store import IndexInfo, Store, local_server

ROOT = Path(__file__).resolve().parent.parent


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
) -> dict:
    """Run the ingest job against the served index; returns its JSON summary."""
    command = [
        sys.executable,
        "-m",
        "ingest",
        str(settings.docs_dir),
        "--db",
        back.uri,
        "--json",
        "--progress",
        "json",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    errors = []
    for line in process.stderr:
        try:
            event = json.loads(line)
            on_progress(event["stage"], event["done"], event["total"])
        except (ValueError, KeyError, TypeError):
            errors.append(line.strip())
    out = process.stdout.read()
    if process.wait() != 0:
        message = next((e for e in reversed(errors) if e.startswith("error:")), "")
        raise RuntimeError(message.removeprefix("error: ") or "the ingest job failed")
    return json.loads(out)
