"""Chunks -> index rows, embedding one slice ahead of the writer.

The embedder runs on a worker thread (its models release the GIL while they compute), so the
index writes of one slice overlap the embedding of the next; a bounded queue keeps at most a
few slices of vectors in memory. Texts already in the index keep their vectors (never
re-embedded), and a text shared by several chunks is embedded once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import islice

import numpy as np

from retrieval.embeddings import Embedder
from retrieval.store import ChunkRow
from retrieval.types import Chunk

#: Called as progress(stage, done, total) while an ingest runs; stages: files, chunks, embedding.
Progress = Callable[[str, int, int], None]
EMBED_SLICE = 64  # texts per embedder call: its own batching runs inside
AHEAD = 2  # slices embedded and not yet written, at most


@dataclass(frozen=True)
class Embedded:
    """Rows for the index, yielded as they are embedded, and how many texts were new."""

    rows: Iterator[ChunkRow]
    to_embed: int


def embedded_rows(
    chunks: Sequence[Chunk],
    known: dict[str, Sequence[float]],
    embedder: Embedder,
    doc_hashes: dict[str, str],
    progress: Progress,
) -> Embedded:
    """Rows for `chunks`: those whose text has a vector in `known` first, then the others as
    their slice is embedded (shortest texts first: less padding per batch)."""
    by_hash: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        by_hash.setdefault(chunk.text_hash, []).append(chunk)
    todo = sorted(
        (h for h in by_hash if h not in known), key=lambda h: len(by_hash[h][0].embed_text)
    )

    def row(chunk: Chunk, vector) -> ChunkRow:
        return chunk_row(chunk, doc_hashes[chunk.doc], vector)

    def rows() -> Iterator[ChunkRow]:
        for text_hash, group in by_hash.items():
            if text_hash in known:
                yield from (row(chunk, known[text_hash]) for chunk in group)
        texts = [by_hash[h][0].embed_text for h in todo]
        with closing(_ahead(embedder, texts, progress)) as slices:  # a stop ends the worker
            for start, vectors in slices:
                for text_hash, vector in zip(
                    islice(todo, start, start + len(vectors)), vectors, strict=True
                ):
                    yield from (row(chunk, vector) for chunk in by_hash[text_hash])

    return Embedded(rows(), len(todo))


def _ahead(
    embedder: Embedder, texts: list[str], progress: Progress
) -> Iterator[tuple[int, np.ndarray]]:
    """(start, vectors) per slice of `texts`, embedded on a worker thread up to AHEAD slices
    ahead of the consumer. An embedding error is raised here; a consumer that stops early
    stops the worker after its current slice."""
    progress("embedding", 0, len(texts))
    if not texts:
        return
    slices: queue.Queue = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def work() -> None:
        try:
            for start in range(0, len(texts), EMBED_SLICE):
                if stop.is_set():
                    return
                vectors = embedder.embed_documents(texts[start : start + EMBED_SLICE])
                progress("embedding", start + len(vectors), len(texts))
                _put(slices, (start, vectors), stop)
        except BaseException as exc:  # handed to the consumer, raised there
            _put(slices, exc, stop)
        _put(slices, None, stop)

    worker = threading.Thread(target=work, name="ingest-embed", daemon=True)
    worker.start()
    try:
        while (item := slices.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _put(slices: queue.Queue, item, stop: threading.Event) -> None:
    """Queue `item`, unless the consumer has gone (then drop it, so the worker can end)."""
    while not stop.is_set():
        try:
            slices.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def chunk_row(chunk: Chunk, doc_hash: str, vector: Sequence[float]) -> ChunkRow:
    """One row of the index; its `search_text` (heading path + passage) feeds BM25."""
    return ChunkRow(
        id=chunk.id,
        doc=chunk.doc,
        heading=chunk.heading,
        text=chunk.text,
        text_hash=chunk.text_hash,
        doc_hash=doc_hash,
        vector=vector,
        search_text=chunk.embed_text,
        lang=chunk.lang,
        pages=chunk.pages,
        groups=chunk.groups,
        kb=chunk.kb,
    )
