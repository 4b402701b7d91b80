"""Opening the index for a long-running front door (the app, the API): a Milvus Lite path is
served through the local server on 127.0.0.1, so ingest jobs can write while people ask."""

from __future__ import annotations

from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.store import Store, local_server


def open_served(settings: Settings) -> tuple[str, Retriever]:
    """(the URI connected to, a retriever over it)."""
    uri = settings.store_uri
    if settings.local_server and local_server.is_local_path(uri):
        uri = local_server.ensure_server(uri)
    live = settings.updated(store_uri=uri)
    return uri, Retriever(live, Store(live))
