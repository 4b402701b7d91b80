"""The store against a real Milvus standalone server (the `milvus` 2.3.5 package, started
here with authorization on): ingest, incremental re-ingest, search, RAG_STORE_TOKEN, and the
capability switch (2.3 has no full-text search: `auto` builds dense and says so, `hybrid` is
refused in one line at ingest and at search).

Run by test_store_server.py inside a network namespace that has only a loopback interface:
Milvus 2.3.5 listens on every interface and cannot be told otherwise."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from retrieval.access import ALL
from retrieval.search import Retriever
from retrieval.store import Store, StoreError
from tests.conftest import SMALL, free_port, make_settings, write_docs

MILVUS_SERVER = Path(sys.executable).with_name("milvus-server")
TOKEN = "root:Milvus"  # the server's default root user, with authorization enabled


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("milvus-server")
    port = free_port()
    command = [str(MILVUS_SERVER), "--data", str(data), "--proxy-port", str(port)]
    command += ["--authorization-enabled", "true"]
    log = open(data / "server.log", "w")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(uri, process, data / "server.log")
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGINT)  # the wrapper and the milvus binary it runs
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_until_up(uri: str, process: subprocess.Popen, log: Path) -> None:
    from pymilvus import MilvusClient

    deadline = time.monotonic() + 180
    while True:
        try:
            MilvusClient(uri=uri, token=TOKEN, timeout=2).close()
            return
        except Exception:  # noqa: BLE001 - any failure means "not up yet" while it starts
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-2000:]
                raise RuntimeError(f"milvus-server did not start: {tail}") from None
            time.sleep(1)


def server_settings(tmp_path, uri, **extra):
    values = {"store_uri": uri, "store_token": TOKEN, **extra}  # search_mode: auto
    return make_settings(tmp_path, tmp_path / "docs", **values)


def test_ingest_search_and_incremental_reingest_on_a_real_server(tmp_path, server, embedder):
    docs = write_docs(tmp_path / "docs", SMALL)
    settings = server_settings(tmp_path, server, collection="docs_a")
    store = Store(settings)
    assert not store.full_text and store.server_version.startswith("v2.3")
    report = ingest(settings, store, embedder)
    assert report.docs_added == 4 and store.info().chunks == 4
    retriever = Retriever(settings, store, embedder)
    assert retriever.search("how long is a VPN password valid", 1, access=ALL)[0].doc == "it/vpn.md"
    (docs / "it" / "vpn.md").write_text("# VPN\n\nVPN passwords now expire every 30 days.\n")
    (docs / "office" / "lunch.md").unlink()
    again = ingest(settings, store, embedder)
    assert (again.docs_updated, again.docs_removed, again.chunks_embedded) == (1, 1, 1)
    hit = retriever.search("how long is a VPN password valid", 1, access=ALL)[0]
    assert "30 days" in hit.text and store.info().chunks == 3
    assert "lunch" not in " ".join(h.doc for h in retriever.search("canteen lunch", 3, access=ALL))
    store.close()


def test_auto_builds_dense_says_so_once_and_search_follows(tmp_path, server, embedder):
    write_docs(tmp_path / "docs", SMALL)
    settings = server_settings(tmp_path, server, collection="docs_b")
    assert settings.search_mode == "auto"  # the default
    store = Store(settings)
    report = ingest(settings, store, embedder)
    assert report.search == "dense" and report.docs_added == 4
    (notice,) = report.notices
    assert "v2.3.5" in notice and "no full-text (BM25) search" in notice
    retriever = Retriever(settings, store, embedder)
    found = retriever.retrieve("how long is a VPN password valid", 1, access=ALL)
    assert found.hits[0].doc == "it/vpn.md" and found.lexical == []  # dense only, no error
    chosen = settings.updated(search_mode="dense")
    assert ingest(chosen, store, embedder).notices == []  # dense by choice: nothing to say
    store.close()


def test_hybrid_stops_the_ingest_at_once_with_the_search_sentence(tmp_path, server, embedder):
    write_docs(tmp_path / "docs", SMALL)
    settings = server_settings(tmp_path, server, collection="docs_c", search_mode="hybrid")
    store = Store(settings)
    sentence = r"hybrid search needs full-text \(BM25\) search, which Milvus has from 2\.5 on; "
    sentence += r".*runs v2\.3\.5\S*: set RAG_SEARCH_MODE=dense"
    with pytest.raises(StoreError, match=sentence) as at_ingest:
        ingest(settings, store, embedder)
    assert store.info() is None  # nothing was written
    ingest(settings.updated(search_mode="auto"), store, embedder)
    with pytest.raises(StoreError) as at_search:
        Retriever(settings, store, embedder).search("vpn", 1, access=ALL)
    assert str(at_search.value) == str(at_ingest.value)  # the one sentence, both times
    store.close()


def test_wrong_token_is_a_clear_error(tmp_path, server):
    settings = server_settings(tmp_path, server, store_token="root:wrong-password")
    with pytest.raises(StoreError, match="cannot connect to Milvus") as failure:
        Store(settings).info()
    assert "wrong-password" not in str(failure.value)


def test_index_parameters_reach_the_server_index(tmp_path, server, embedder):
    write_docs(tmp_path / "docs", SMALL)
    chosen = {
        "IVF_FLAT": ({"ivf_nlist": 2, "ivf_nprobe": 2}, {"nlist": "2"}),
        "HNSW": ({"hnsw_m": 24, "hnsw_ef_construction": 90}, {"M": "24", "efConstruction": "90"}),
    }
    for index_type, (extra, built) in chosen.items():
        settings = server_settings(tmp_path, server, collection=f"docs_{index_type.lower()}",
                                   index_type=index_type, **extra)  # fmt: skip
        store = Store(settings)
        ingest(settings, store, embedder)
        index = store.client.describe_index(store.live_collection(), "vector")
        assert index["index_type"] == index_type
        assert {name: str(index.get(name)) for name in built} == built
        hits = Retriever(settings, store, embedder).search("VPN password expiry", 1, access=ALL)
        assert hits[0].doc == "it/vpn.md"
        store.close()
