"""Searching the live version: dense (optionally within one language) and BM25."""

from __future__ import annotations

import re
from dataclasses import replace

from pymilvus.exceptions import MilvusException

from retrieval.store.connect import StoreError
from retrieval.store.live import LiveIndex
from retrieval.store.schema import OUTPUT_FIELDS, visible
from retrieval.types import Hit


class Search(LiveIndex):
    """The query side of the store."""

    def dense_search(self, vector: list[float], k: int, lang: str = "") -> list[Hit]:
        """The k passages with the highest inner product (cosine: vectors are unit length),
        only among passages in `lang` when it is given."""
        return self._retrying(self._dense, vector, k, lang)

    def text_search(self, text: str, k: int, vector: list[float]) -> list[Hit]:
        """The k best passages by BM25 on `text`, in BM25 order, each scored by its cosine to
        `vector` so that every score a caller sees means the same thing."""
        self.require_full_text()
        if not text.strip():
            return []
        return self._retrying(self._lexical, text, k, vector)

    def _retrying(self, search, *args) -> list[Hit]:
        try:
            return search(*args)
        except MilvusException:
            # Another process may have switched the alias and dropped the version we resolved.
            self._loaded = None
            return search(*args)

    def _searchable(self) -> tuple[str, str]:
        live = self._live()
        if live is None:
            raise StoreError("the index is empty: run `python -m ingest` first")
        name, props = live
        self._ensure_loaded(name)
        return name, visible(props)

    def _dense(self, vector: list[float], k: int, lang: str) -> list[Hit]:
        name, condition = self._searchable()
        if lang:
            condition = f'{condition} and lang == "{plain(lang)}"'
        result = self.client.search(
            name,
            data=[vector],
            anns_field="vector",
            limit=k,
            filter=condition,
            output_fields=OUTPUT_FIELDS,
            search_params=self._dense_params(k),
        )
        return [to_hit(row) for row in result[0]]

    def _lexical(self, text: str, k: int, vector: list[float]) -> list[Hit]:
        name, condition = self._searchable()
        result = self.client.search(
            name,
            data=[text],
            anns_field="sparse",
            limit=k,
            filter=condition,
            output_fields=[*OUTPUT_FIELDS, "vector"],
            search_params={"metric_type": "BM25"},
        )
        return [
            # Milvus Lite reports BM25 as a negative distance, a server as a positive score
            replace(to_hit(row, cosine_to=vector), lexical_score=abs(float(row["distance"])))
            for row in result[0]
        ]

    def _dense_params(self, k: int) -> dict:
        if self.index_type == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(self.hnsw_ef, k)}}
        return {"metric_type": "IP"}


def plain(value: str) -> str:
    """A value safe to put inside a quoted filter literal (letters, digits, '-' and '_')."""
    if not re.fullmatch(r"[\w-]{1,32}", value):
        raise StoreError(f"invalid filter value {value!r}")
    return value


def to_hit(row: dict, cosine_to: list[float] | None = None) -> Hit:
    """A search result as a Hit; with `cosine_to`, the score is the cosine to that vector."""
    entity = row["entity"]
    score = float(row["distance"])
    if cosine_to is not None:
        score = float(sum(a * b for a, b in zip(entity["vector"], cosine_to, strict=True)))
    return Hit(
        doc=entity["doc"],
        heading=entity["heading"],
        text=entity["text"],
        score=score,
        chunk_id=str(row.get("id", entity.get("id", ""))),
    )
