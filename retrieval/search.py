"""Question -> top-k passages: the embedder and the store, opened together and checked."""

from __future__ import annotations

from retrieval.embeddings import MILVUS_DEFAULT, MINILM_OFFLINE, OnnxEncoder, load_embedder
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.types import Hit


def embedder_for(settings: Settings, store: Store, follow_index: bool = True) -> OnnxEncoder:
    """Load the configured embedder; 'auto' follows the model an existing index was built with."""
    info = store.info() if follow_index else None
    if (
        settings.embedding_model == "auto"
        and info
        and info.embedding_model
        in {
            MILVUS_DEFAULT,
            MINILM_OFFLINE,
        }
    ):
        settings = settings.updated(embedding_model=info.embedding_model)
    return load_embedder(settings)


class Retriever:
    """Top-k search over the live index with the model that built it."""

    def __init__(
        self, settings: Settings, store: Store | None = None, embedder: OnnxEncoder | None = None
    ):
        self.settings = settings
        self.store = store or Store(settings)
        self.embedder = embedder or embedder_for(settings, self.store)

    def search(self, question: str, k: int | None = None) -> list[Hit]:
        """The k passages whose vectors have the highest inner product with the question's."""
        self.store.check_model(self.embedder.name, self.embedder.dim)
        vector = self.embedder.embed([question])[0].tolist()
        text = question if self.settings.search_mode == "hybrid" else None
        return self.store.search(vector, k or self.settings.top_k, text)

    def close(self) -> None:
        self.store.close()
