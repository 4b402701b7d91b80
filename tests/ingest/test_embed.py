"""Embedding one slice ahead of the writer (ingest/embed.py), with a tiny deterministic embedder."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ingest import embed
from ingest.embed import embedded_rows
from retrieval.embeddings import Embedder, ModelInfo
from retrieval.types import Chunk


class Lengths(Embedder):
    """Vectors from text lengths; records what it was asked, and can wait or fail on a call."""

    info = ModelInfo("lengths", 2, 512)

    def __init__(self, on_call=None):
        self.calls: list[list[str]] = []
        self.on_call = on_call or (lambda n: None)

    def embed_documents(self, texts):
        self.calls.append(list(texts))
        self.on_call(len(self.calls))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    def embed_queries(self, texts):
        return self.embed_documents(texts)


def chunks(n: int) -> list[Chunk]:
    return [Chunk(f"d{i % 3}.md", "H", f"passage {i} " + "x" * i) for i in range(n)]


def quiet(stage, done, total):
    pass


def test_every_chunk_gets_its_vector_shared_texts_once_known_never(monkeypatch):
    monkeypatch.setattr(embed, "EMBED_SLICE", 4)
    some = chunks(10)
    twin = Chunk("other.md", "H", some[3].text)  # same embedded text, another document
    known = {some[0].text_hash: [7.0, 7.0]}
    embedder = Lengths()
    hashes = {c.doc: f"hash-{c.doc}" for c in [*some, twin]}
    done = embedded_rows([*some, twin], known, embedder, hashes, quiet)
    rows = list(done.rows)
    assert done.to_embed == 9  # 11 chunks, one known, one text shared
    assert sorted(r.id for r in rows) == sorted(c.id for c in [*some, twin])
    embedded = [t for call in embedder.calls for t in call]
    assert len(embedded) == len(set(embedded)) == 9 and some[0].embed_text not in embedded
    by_id = {r.id: r for r in rows}
    assert list(by_id[some[0].id].vector) == [7.0, 7.0]
    assert by_id[twin.id].vector[0] == len(twin.embed_text) == by_id[some[3].id].vector[0]
    assert {r.doc_hash for r in rows} == {f"hash-{c.doc}" for c in [*some, twin]}


def test_the_writer_gets_a_slice_while_the_next_is_embedded(monkeypatch):
    """The second slice's embedding waits until the writer has the first slice's rows: with
    no overlap (everything embedded before anything is written) this would time out."""
    monkeypatch.setattr(embed, "EMBED_SLICE", 2)
    first_written = threading.Event()

    def on_call(n):
        if n == 2:
            assert first_written.wait(10), "the writer saw nothing before all was embedded"

    done = embedded_rows(
        chunks(6), {}, Lengths(on_call), {f"d{i}.md": "h" for i in range(3)}, quiet
    )
    rows = iter(done.rows)
    next(rows)
    first_written.set()
    assert len([1, *rows]) == 6


def test_an_embedding_error_reaches_the_writer_and_an_early_stop_ends_the_worker(monkeypatch):
    monkeypatch.setattr(embed, "EMBED_SLICE", 2)

    def fail(n):
        if n == 2:
            raise RuntimeError("model crashed")

    hashes = {f"d{i}.md": "h" for i in range(3)}
    with pytest.raises(RuntimeError, match="model crashed"):
        list(embedded_rows(chunks(6), {}, Lengths(fail), hashes, quiet).rows)
    embedder = Lengths()
    rows = embedded_rows(chunks(40), {}, embedder, hashes, quiet).rows
    next(rows)
    rows.close()  # the writer stopped (an error on its side): the worker stops too
    assert not any(t.name == "ingest-embed" for t in threading.enumerate())
    assert len(embedder.calls) <= 1 + embed.AHEAD + 1
