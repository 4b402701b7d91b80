"""What every front door for other tools shares: opening the served index (a Milvus Lite path is
reached through the local server every process of ours shares, see `retrieval.store.local_server`,
so ingest jobs write while people ask, in any start order), and the shape of passages and
sources."""

from __future__ import annotations

from retrieval.answer import Answer
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.types import Hit


def open_served(settings: Settings) -> tuple[str, Retriever]:
    """(the URI connected to, a retriever over it)."""
    store = Store(settings)
    return store.location.uri, Retriever(settings, store)


def passage_fields(hit: Hit) -> dict[str, object]:
    """A passage as the API and the MCP server return it."""
    return {"doc": hit.doc, "heading": hit.heading, "pages": hit.pages, "text": hit.text,
            "relevance": round(hit.relevance, 4)}  # fmt: skip


def source_fields(answer: Answer, with_text: bool = True) -> list[dict[str, object]]:
    """An answer's numbered sources as the API and the MCP server return them (the text too,
    unless the caller only needs where each passage is)."""
    rows = []
    for s in answer.sources:
        row = {"n": s.n, "doc": s.doc, "heading": s.heading, "pages": s.pages,
               "relevance": round(s.relevance, 4), "cited": s.cited}  # fmt: skip
        rows.append({**row, "text": s.text} if with_text else row)
    return rows
