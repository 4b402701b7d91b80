"""Opening the index for a long-running front door (the app, the API, the MCP server): a
Milvus Lite path is reached through the local server every process of ours shares (see
`retrieval.store.local_server`), so ingest jobs write while people ask, in any start order."""

from __future__ import annotations

from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import Store


def open_served(settings: Settings) -> tuple[str, Retriever]:
    """(the URI connected to, a retriever over it)."""
    store = Store(settings)
    return store.location.uri, Retriever(settings, store)
