"""What every front door for other tools shares: opening the served index (a Milvus Lite path is
reached through the local server every process of ours shares, see `retrieval.store.local_server`,
so ingest jobs write while people ask, in any start order), and the shape of passages and
sources."""

from __future__ import annotations

import threading

from retrieval.access import Access
from retrieval.answer import Answer
from retrieval.errors import UserError
from retrieval.private import secure_data_dir
from retrieval.query_model import open_query_model
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import BaseCount, Store
from retrieval.types import Hit

MAX_CACHED = 256


class UnknownKnowledgeError(UserError):
    """A knowledge base that does not exist, or that the caller may not read (the same to them)."""


class ReadableBases:
    """The knowledge bases each reader may read, per index version (a reader's list costs a
    pass over the rows they may read; it changes only when the index does)."""

    def __init__(self, retriever: Retriever):
        self.retriever = retriever
        self._cache: dict[tuple[str, int, str], dict[str, BaseCount]] = {}
        self._lock = threading.Lock()

    def of(self, access: Access) -> dict[str, BaseCount]:
        info = self.retriever.store.info()
        # a full build starts a new collection at version 1: the collection is part of the key
        key = (info.collection if info else "", info.version if info else 0, access.reader.key)
        with self._lock:
            found = self._cache.get(key)
        if found is None:
            found = self.retriever.store.bases(access=access.reader)
            with self._lock:
                if len(self._cache) >= MAX_CACHED:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def scope(self, access: Access, names: list[str] | tuple[str, ...] | None) -> Access:
        """`access` within the named bases (none: all it may read); a name it may not read,
        or that does not exist, is refused, never searched as nothing."""
        if not names:
            return access
        readable = self.of(access)
        unknown = sorted({n for n in names if n not in readable})
        if unknown:
            raise UnknownKnowledgeError(
                f"unknown knowledge base(s) {unknown}; the ones you may search: {sorted(readable)}"
            )
        return access.within(names)


def open_served(settings: Settings) -> tuple[str, Retriever]:
    """(the URI connected to, a retriever over it); the data folder is made owner-only first
    (DataFolderError, one sentence, when it cannot be)."""
    secure_data_dir(settings.data_dir())
    store = Store(settings)
    return store.location.uri, Retriever(settings, store, query_model=open_query_model(settings))


def passage_fields(hit: Hit) -> dict[str, object]:
    """A passage as the API and the MCP server return it."""
    return {"doc": hit.doc, "heading": hit.heading, "pages": hit.pages, "text": hit.text,
            "relevance": round(hit.relevance, 4), "knowledge": hit.kb}  # fmt: skip


def source_fields(answer: Answer, with_text: bool = True) -> list[dict[str, object]]:
    """An answer's numbered sources as the API and the MCP server return them (the text too,
    unless the caller only needs where each passage is)."""
    rows = []
    for s in answer.sources:
        row = {"n": s.n, "doc": s.doc, "heading": s.heading, "pages": s.pages,
               "relevance": round(s.relevance, 4), "cited": s.cited,
               "knowledge": s.knowledge}  # fmt: skip
        rows.append({**row, "text": s.text} if with_text else row)
    return rows
