"""Milvus: where the index is, its schema, the catalog, versions, search. The only package that
imports pymilvus.

    connect.py       locate(): the one answer to "where is the index", the client, StoreError
    local_server.py  the Milvus Lite server the app starts, found by path or by port
    schema.py        fields, the typed ChunkRow, BM25 analyzer, IndexInfo, version filter
    live.py          the live collection behind the alias, model check
    catalog.py       reading: documents, rows, stored vectors
    versions.py      writing: full builds, incremental versions, recovery
    resident.py      the live version's vectors held in the serving process, searched exactly
    search.py        dense and BM25 search
"""

from __future__ import annotations

from retrieval.store.catalog import BaseCount, DocEntry, Section
from retrieval.store.connect import MILVUS_ERRORS, Location, StoreError, locate
from retrieval.store.live import same_model
from retrieval.store.schema import SCHEMA_VERSION, ChunkRow, IndexInfo, ModelMismatchError, meta_for
from retrieval.store.search import Lexical, Search, Snapshot
from retrieval.store.versions import Versions


class Store(Versions, Search):
    """The document index: one live collection behind an alias, versioned in place."""


__all__ = [
    "MILVUS_ERRORS",
    "BaseCount",
    "Lexical",
    "SCHEMA_VERSION",
    "Snapshot",
    "ChunkRow",
    "DocEntry",
    "Section",
    "IndexInfo",
    "Location",
    "ModelMismatchError",
    "Store",
    "StoreError",
    "locate",
    "meta_for",
    "same_model",
]
