"""The live version behind the alias: which collection, its properties, loaded for reading."""

from __future__ import annotations

from dataclasses import replace

from pymilvus import MilvusClient

from retrieval.settings import Settings
from retrieval.store.connect import Location, StoreError, locate, open_client, release
from retrieval.store.schema import IndexInfo, ModelMismatchError, build_params, has_full_text


class LiveIndex:
    """A connection and the alias that always names the live collection."""

    def __init__(self, settings: Settings, client: MilvusClient | None = None):
        self.alias = settings.collection
        self.index_type = settings.index_type
        self.hnsw_ef = settings.hnsw_ef
        self.ivf_nprobe = settings.ivf_nprobe
        self.index_params = build_params(settings.index_type, settings)
        self.location: Location = locate(settings.store_uri, shared=settings.local_server)
        token = settings.store_token.get_secret_value() if settings.store_token else ""
        try:
            self.client = client or open_client(self.location, token)
        except StoreError:
            release(self.location)
            raise
        self._loaded: str | None = None
        self._exists = False
        self._version: str | None = None

    def close(self) -> None:
        self.client.close()
        release(self.location)
        self.location = replace(self.location, shared=False)  # released once

    def live_collection(self) -> str | None:
        """The collection the alias points at, or None before the first ingest."""
        live = self._live()
        return live[0] if live else None

    def _live(self) -> tuple[str, dict[str, str]] | None:
        """(collection, properties) of the live version, in one round trip once it exists."""
        if not self._exists:
            if self.alias not in self.client.list_aliases().get("aliases", []):
                return None
            self._exists = True  # an alias, once made, is only ever moved
        described = self.client.describe_collection(self.alias)
        return described["collection_name"], described.get("properties", {})

    def info(self) -> IndexInfo | None:
        """Facts about the live version, or None when nothing was ingested yet."""
        live = self._live()
        return IndexInfo.from_properties(*live) if live else None

    def check_model(self, model_name: str, dim: int) -> IndexInfo | None:
        """Raise ModelMismatchError if the live index was built by another model."""
        return same_model(self.info(), model_name, dim)

    @property
    def server_version(self) -> str:
        if self._version is None:
            self._version = str(self.client.get_server_version())
        return self._version

    @property
    def full_text(self) -> bool:
        """Whether this Milvus runs BM25 full-text search (asked once)."""
        return has_full_text(self.server_version)

    def require_full_text(self) -> None:
        if not self.full_text:
            raise StoreError(
                "hybrid search needs full-text (BM25) search, which Milvus has from 2.5 on; "
                f"{self.location.label} runs {self.server_version}: set RAG_SEARCH_MODE=dense "
                "or upgrade Milvus"
            )

    def hybrid(self, mode: str) -> bool:
        """Whether searches in this mode run BM25 beside the vectors here: 'auto' follows the
        server, 'hybrid' insists (StoreError on a server without full-text search)."""
        if mode == "hybrid":
            self.require_full_text()
        return mode != "dense" and self.full_text

    def _ensure_loaded(self, name: str) -> None:
        # Milvus Lite starts with collections released after a restart.
        if self._loaded != name:
            self.client.load_collection(name)
            self._loaded = name

    def _loaded_live(self, missing: str) -> tuple[str, dict[str, str]]:
        """(collection, properties) of the live version, loaded; StoreError(missing) if none."""
        live = self._live()
        if live is None:
            raise StoreError(missing)
        self._ensure_loaded(live[0])
        return live

    def _writable(self) -> tuple[str, int]:
        name, props = self._loaded_live("no index yet: a full build must come first")
        return name, int(props.get("rag.version", 0))


def same_model(info: IndexInfo | None, model_name: str, dim: int) -> IndexInfo | None:
    """`info`, after checking the index was built by this model (ModelMismatchError if not)."""
    if info and (info.embedding_model != model_name or info.dim != dim):
        raise ModelMismatchError(
            f"the index was built with embedding model {info.embedding_model} "
            f"({info.dim}-d) but {model_name} ({dim}-d) is configured; set "
            f"RAG_EMBEDDING_MODEL={info.embedding_model} or rebuild with "
            "`python -m ingest --rebuild`"
        )
    return info
