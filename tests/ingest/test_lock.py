"""One ingest at a time per index, however the index is named (a path or its server's URI)."""

from __future__ import annotations

import json
import os
import signal

import pytest

from ingest.pipeline import IngestBusyError, exclusive_ingest
from tests.conftest import SMALL, make_settings, run_cli, write_docs


def test_path_and_served_uri_take_the_same_lock(tmp_path):
    from retrieval.store.local_server import ensure_server

    db = str(tmp_path / "milvus.db")
    uri = ensure_server(db)  # what the app does: serve the Lite index on 127.0.0.1
    by_uri = make_settings(tmp_path, tmp_path, store_uri=uri)  # the app's re-ingest job
    by_path = make_settings(tmp_path, tmp_path, store_uri=db)  # `python -m ingest --db PATH`
    try:
        with exclusive_ingest(by_uri), pytest.raises(IngestBusyError):  # noqa: SIM117
            with exclusive_ingest(by_path):
                pass
        with exclusive_ingest(by_path), pytest.raises(IngestBusyError):  # noqa: SIM117
            with exclusive_ingest(by_uri):
                pass
    finally:
        record = json.loads((tmp_path / "milvus.db.server.json").read_text())
        os.kill(record["pid"], signal.SIGINT)


def test_cli_ingest_by_path_is_refused_while_the_served_index_is_being_written(tmp_path):
    from retrieval.store.local_server import ensure_server

    docs = write_docs(tmp_path / "docs", SMALL)
    db = str(tmp_path / "milvus.db")
    uri = ensure_server(db)
    try:
        with exclusive_ingest(make_settings(tmp_path, docs, store_uri=uri)):
            result = run_cli("-m", "ingest", str(docs), "--db", db)
        assert result.returncode == 2
        assert "another ingest into this index is running" in result.stderr
    finally:
        record = json.loads((tmp_path / "milvus.db.server.json").read_text())
        os.kill(record["pid"], signal.SIGINT)
