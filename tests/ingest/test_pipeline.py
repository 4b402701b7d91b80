"""Ingest into real Milvus Lite: known answers, incremental updates, bad input, model mismatch."""

from __future__ import annotations

import json
import os

import pytest

from ingest.pipeline import ingest
from retrieval.access import ALL
from retrieval.search import Retriever
from tests.conftest import SMALL, all_rows, run_cli, write_docs


def test_known_answers(small, embedder):
    settings, store, _ = small
    report = ingest(settings, store, embedder)
    assert (report.docs_added, report.chunks_total, report.chunks_embedded) == (4, 4, 4)
    assert settings.search_mode == "auto" and report.search == "hybrid"  # Milvus Lite has BM25
    assert report.notices == []
    retriever = Retriever(settings.updated(search_mode="dense"), store, embedder)
    expected = {
        "when does the cafeteria serve food": "office/lunch.md",
        "how many vacation days do I get": "hr/leave.md",
        "my VPN login expired": "it/vpn.md",
        "which days can we ship to prod": "eng/deploy.md",
    }
    for question, doc in expected.items():
        hits = retriever.search(question, k=2, access=ALL)
        assert hits[0].doc == doc, question
        assert hits[0].score > hits[1].score


def test_hybrid_finds_exact_terms_and_keeps_cosine_scores(small, embedder):
    settings, store, _ = small
    ingest(settings, store, embedder)
    dense = Retriever(settings.updated(search_mode="dense"), store, embedder)
    hybrid = Retriever(settings.updated(search_mode="hybrid"), store, embedder)
    question = "id.example.com hardware token"
    assert hybrid.search(question, k=1, access=ALL)[0].doc == "it/vpn.md"
    by_doc = {h.doc: h.score for h in dense.search(question, k=4, access=ALL)}
    for hit in hybrid.search(question, k=4, access=ALL):
        assert hit.score == pytest.approx(by_doc[hit.doc], abs=1e-5)  # cosine, not RRF


def test_incremental_add_edit_delete_rename_noop(small, embedder):
    settings, store, docs = small
    ingest(settings, store, embedder)
    noop = ingest(settings, store, embedder)
    assert (noop.chunks_embedded, noop.docs_unchanged, noop.chunks_total) == (0, 4, 4)

    (docs / "hr/leave.md").write_text("# Annual leave\n\nEvery employee gets 30 days.\n")
    (docs / "new.md").write_text("# Parking\n\nParking permits are issued by facilities.\n")
    (docs / "eng/deploy.md").unlink()
    (docs / "office/lunch.md").rename(docs / "office/food.md")
    report = ingest(settings, store, embedder)
    assert (report.docs_added, report.docs_updated, report.docs_removed) == (2, 1, 2)
    assert report.docs_unchanged == 1
    # Renamed doc: same text, so its vector is reused; only the edit and the new doc are embedded.
    assert report.chunks_embedded == 2
    rows = all_rows(store)
    assert sorted(r["doc"] for r in rows) == [
        "hr/leave.md",
        "it/vpn.md",
        "new.md",
        "office/food.md",
    ]
    assert len({r["id"] for r in rows}) == len(rows) == report.chunks_total == 4
    assert any("30 days" in r["text"] for r in rows)
    assert not any("27 days" in r["text"] for r in rows)
    again = ingest(settings, store, embedder)
    assert again.chunks_embedded == 0 and len(all_rows(store)) == 4


def test_chunking_change_resplits_without_reembedding_same_text(small, embedder):
    settings, store, _ = small
    ingest(settings, store, embedder)
    changed = settings.updated(chunk_overlap_tokens=10)
    report = ingest(changed, store, embedder)
    assert report.docs_updated == 4 and report.chunks_embedded == 0


def test_bad_files_are_reported_and_skipped(small, embedder, tmp_path):
    settings, store, docs = small
    ingest(settings, store, embedder)
    (docs / "latin1.md").write_bytes("# Café\n\nprix: 5 €".encode("cp1252"))
    (docs / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (docs / "empty.md").write_text("")
    (docs / "huge.md").write_text("# Big\n\n" + "x" * 6_000_000)
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\n\nnot for the index\n")
    (docs / "escape.md").symlink_to(outside)
    (docs / "loop").symlink_to(docs)
    (docs / "utf16.md").write_bytes("# UTF-16\n\nByte order marks are fine.\n".encode("utf-16"))
    unreadable = docs / "locked.md"
    unreadable.write_text("# Locked\n")
    unreadable.chmod(0)
    # the index copy of a doc that turns unreadable must not be lost
    (docs / "it/vpn.md").write_bytes(b"\xff\xfe\x00bad\x00")
    report = ingest(settings, store, embedder)
    failed = {f.path: f.error for f in report.docs_failed}
    assert "not valid UTF-8" in failed["latin1.md"]
    assert "binary" in failed["binary.md"]
    assert "empty" in failed["empty.md"]
    assert "too large" in failed["huge.md"]
    assert "outside the docs folder" in failed["escape.md"]
    assert "not followed" in failed["loop"]
    if os.geteuid() != 0:  # root reads anything; the permission case is exercised elsewhere
        assert "cannot read" in failed["locked.md"]
    assert "utf16.md" not in failed and report.docs_added >= 1
    docs_in_index = {r["doc"] for r in all_rows(store)}
    assert "it/vpn.md" in docs_in_index  # kept from the last good version
    assert not any(d in docs_in_index for d in ["latin1.md", "binary.md", "escape.md"])
    unreadable.chmod(0o644)


def test_cli_twice_second_run_embeds_nothing(tmp_path):
    docs = write_docs(tmp_path / "docs", SMALL)
    db = str(tmp_path / "cli.db")
    first = run_cli("-m", "ingest", str(docs), "--db", db, "--json")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert set(summary) == {
        "docs_added",
        "docs_updated",
        "docs_removed",
        "docs_unchanged",
        "docs_failed",
        "docs_decoded",
        "chunks_embedded",
        "chunks_total",
        "embedding_model",
        "search",
        "notices",
        "ocr_pages",
        "ocr_seconds",
        "seconds",
    }
    assert summary["chunks_embedded"] == 4
    second = json.loads(run_cli("-m", "ingest", str(docs), "--db", db, "--json").stdout)
    assert second["chunks_embedded"] == 0 and second["docs_unchanged"] == 4
    found = run_cli("-m", "retrieval", "vacation days", "--k", "2", "--db", db, "--json")
    hits = json.loads(found.stdout)
    assert [set(h) for h in hits] == [{"doc", "heading", "text", "score"}] * 2
    assert hits[0]["doc"] == "hr/leave.md"


def test_cli_missing_folder_is_one_line_error(tmp_path):
    result = run_cli("-m", "ingest", str(tmp_path / "nope"), "--db", str(tmp_path / "x.db"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: docs folder not found")
    assert "Traceback" not in result.stderr


def test_cli_search_on_empty_index_says_run_ingest(tmp_path):
    result = run_cli("-m", "retrieval", "anything", "--db", str(tmp_path / "empty.db"))
    assert result.returncode == 2 and "python -m ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_full_rebuild_after_enough_incremental_versions(small, embedder):
    settings, store, docs = small
    settings = settings.updated(full_rebuild_every=1)
    ingest(settings, store, embedder)
    first = store.live_collection()
    (docs / "new.md").write_text("# Parking\n\nPermits come from facilities.\n")
    ingest(settings, store, embedder)
    assert store.live_collection() == first and store.info().version == 2
    (docs / "new.md").write_text("# Parking\n\nPermits come from the facilities team.\n")
    report = ingest(settings, store, embedder)
    assert store.live_collection() != first and store.info().version == 1
    assert report.docs_updated == 1 and report.chunks_embedded == 1 and report.chunks_total == 5
