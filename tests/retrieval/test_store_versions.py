"""The store's versions: model mismatch, interrupted builds and ingests, a locked Lite file."""

from __future__ import annotations

import pytest

from ingest.pipeline import ingest
from retrieval.access import ALL
from retrieval.search import Retriever
from retrieval.store import ModelMismatchError, Store
from tests.conftest import all_rows, make_settings, run_cli


def test_model_mismatch_is_a_clear_error(small, embedder):
    settings, store, _ = small
    ingest(settings, store, embedder)
    store.client.alter_collection_properties(
        store.live_collection(),
        properties={"rag.embedding_model": "milvus-default", "rag.dim": "768"},
    )
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        ingest(settings, store, embedder)
    with pytest.raises(ModelMismatchError):
        Retriever(settings, store, embedder).search("vpn", access=ALL)
    report = ingest(settings, store, embedder, rebuild=True)
    assert report.chunks_embedded == 4 and store.info().embedding_model == embedder.name


def test_interrupted_version_is_dropped_and_never_served(small, embedder):
    settings, store, _ = small
    ingest(settings, store, embedder)
    live = store.live_collection()

    def exploding_rows():
        yield from store.chunk_rows({r["doc"] for r in all_rows(store)})
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        store.publish(exploding_rows(), {"rag.embedding_model": embedder.name}, embedder.dim)
    assert store.live_collection() == live
    assert len(all_rows(store)) == 4
    assert store.drop_orphans()  # the half-written version is found and dropped
    assert store.client.list_collections() == [live]


def test_second_process_on_same_lite_file_shares_it(small, embedder):
    settings, store, _ = small
    ingest(settings, store, embedder)  # this process holds a lease on the shared server
    result = run_cli("-m", "retrieval", "vpn", "--db", settings.store_uri)
    assert result.returncode == 0, result.stderr
    assert "vpn" in result.stdout.lower()


def test_without_the_shared_server_a_second_process_gets_a_clear_message(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "vpn.md").write_text("# VPN\n\nReset the VPN password at id.example.com.\n")
    settings = make_settings(tmp_path, docs, local_server=False)
    store = Store(settings)  # this process opens the file itself
    try:
        ingest(settings, store, embedder)
        env = {"RAG_LOCAL_SERVER": "false"}
        result = run_cli("-m", "retrieval", "vpn", "--db", settings.store_uri, env=env)
        assert result.returncode == 2
        assert "in use by another process" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        store.close()


def visible_ids(store: Store) -> set[str]:
    return {r["id"] for r in store.rows(["id"])}


def test_incremental_ingest_interrupted_before_publishing_is_rolled_back(
    small, embedder, monkeypatch, tmp_path
):
    settings, store, docs = small
    ingest(settings, store, embedder)
    before = visible_ids(store)
    (docs / "hr/leave.md").write_text("# Annual leave\n\nEvery employee gets 31 days.\n")
    (docs / "eng/deploy.md").unlink()

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the version switch")

    monkeypatch.setattr(store.client, "alter_collection_properties", crash)
    with pytest.raises(RuntimeError):
        ingest(settings, store, embedder)
    monkeypatch.undo()
    assert visible_ids(store) == before  # readers never saw the half-written change
    assert len(store.physical_rows()) > len(before)  # the new rows are there, invisible
    ingest(settings, store, embedder)
    scratch = make_settings(tmp_path / "scratch", docs)
    fresh = Store(scratch)
    ingest(scratch, fresh, embedder)
    assert visible_ids(store) == visible_ids(fresh)
    physical = [r["id"] for r in store.physical_rows()]
    assert len(physical) == len(set(physical))  # no duplicate chunks
    fresh.close()
