"""Searching the live version: dense (optionally within one language) and BM25."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from pymilvus import MilvusClient

from retrieval.access import Access
from retrieval.settings import Settings
from retrieval.store.connect import StoreError
from retrieval.store.live import LiveIndex
from retrieval.store.resident import Holder, Key, Resident
from retrieval.store.schema import OUTPUT_FIELDS, OUTPUT_FIELDS_V4, IndexInfo, visible
from retrieval.types import Hit


@dataclass(frozen=True)
class Snapshot:
    """One version of the index, pinned: every search given it sees exactly that version."""

    collection: str
    condition: str  # the version's visible rows, and the rows the asking user may read
    info: IndexInfo
    fields: tuple[str, ...] = tuple(OUTPUT_FIELDS)
    access: Access | None = None  # who asks (None: an index too old for a resident copy)
    visible: str = ""  # the version's visible rows alone

    @property
    def key(self) -> Key:
        return Key(self.collection, self.visible, self.info.languages)


class Search(LiveIndex):
    """The query side of the store: dense search from the resident copy of the live version
    when it is in memory (retrieval/store/resident.py), from Milvus otherwise; BM25 in Milvus."""

    def __init__(self, settings: Settings, client: MilvusClient | None = None):
        super().__init__(settings, client)
        self.resident = Holder(self.client, settings.resident_max_chunks)

    def snapshot(self, *, access: Access) -> Snapshot:
        """The live version now, as `access` may see it; pass it to several searches so they
        agree on the version and on what is visible."""
        name, props = self._loaded_live("the index is empty: run `python -m ingest` first")
        info = IndexInfo.from_properties(name, props)
        condition, fields = scope(props, info, access)
        held = access if int(info.schema or 0) >= 6 else None  # groups and kb on every row
        return Snapshot(name, condition, info, fields, held, visible(props))

    def wait_resident(self, at: Snapshot, timeout: float = 120.0) -> Resident | None:
        """Read version `at` into memory now and wait for it (benchmarks and tests); None when
        it is larger than RAG_RESIDENT_MAX_CHUNKS, or the copy is off."""
        return self.resident.wait(at.key, timeout) if at.access is not None else None

    def forget_loaded(self) -> None:
        """After a failed search: another process may have switched the alias and dropped
        the collection we resolved; the next snapshot resolves it again."""
        self._loaded = None

    def dense_search(self, vector: list[float], k: int, at: Snapshot, lang: str = "") -> list[Hit]:
        """The k passages with the highest inner product (cosine: vectors are unit length) in
        version `at`, as far as its reader may see, only among passages in `lang` if given."""
        return self._dense(at, vector, k, lang)

    def text_search(self, text: str, k: int, at: Snapshot) -> Lexical:
        """The k best passages by BM25 on `text` in version `at`, in BM25 order. It needs no
        query vector, so it can run while the question is embedded; `Lexical.scored` then
        gives each hit its cosine, so that every score a caller sees means the same thing."""
        self.require_full_text()
        if not text.strip():
            return Lexical([], np.zeros((0, 0), dtype=np.float32))
        return self._lexical(at, text, k)

    def _query(self, at: Snapshot, data, field: str, k: int, params: dict, fields, where=""):
        """One search of a pinned version (only its visible rows, plus `where`)."""
        condition = f"{at.condition} and {where}" if where else at.condition
        found = self.client.search(
            at.collection,
            data=[data],
            anns_field=field,
            limit=k,
            filter=condition,
            output_fields=fields,
            search_params=params,
        )
        return found[0]

    def _dense(self, at: Snapshot, vector: list[float], k: int, lang: str) -> list[Hit]:
        where = f'lang == "{plain(lang)}"' if lang else ""
        copy = self.resident.get(at.key) if at.access is not None else None
        if copy is not None:
            return copy.search(vector, k, at.access, lang)
        rows = self._query(at, vector, "vector", k, self._dense_params(k), list(at.fields), where)
        return [to_hit(row) for row in rows]

    def _lexical(self, at: Snapshot, text: str, k: int) -> Lexical:
        params = {"metric_type": "BM25"}
        rows = self._query(at, text, "sparse", k, params, [*at.fields, "vector"])
        hits = [
            # Milvus Lite reports BM25 as a negative distance, a server as a positive score
            replace(to_hit(row), lexical_score=abs(float(row["distance"])))
            for row in rows
        ]
        vectors = np.asarray([row["entity"]["vector"] for row in rows], dtype=np.float32)
        return Lexical(hits, vectors)

    def _dense_params(self, k: int) -> dict:
        if self.index_type == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(self.hnsw_ef, k)}}
        if self.index_type == "IVF_FLAT":
            return {"metric_type": "IP", "params": {"nprobe": self.ivf_nprobe}}
        return {"metric_type": "IP"}


def scope(props: dict[str, str], info: IndexInfo, access: Access) -> tuple[str, tuple[str, ...]]:
    """The filter and output fields for a version: its visible rows and, on an index that
    stores groups (schema 5+), only those `access` may read. An older index predates groups:
    everything in it was open to all."""
    condition, fields = visible(props), tuple(OUTPUT_FIELDS)
    if int(info.schema or 0) < 5:
        return condition, tuple(OUTPUT_FIELDS_V4)
    if int(info.schema) >= 6:
        fields = (*fields, "kb")
    if restriction := access.condition(knowledge=int(info.schema) >= 6):
        condition = f"({condition}) and {restriction}"
    return condition, fields


def plain(value: str) -> str:
    """A value safe to put inside a quoted filter literal (letters, digits, '-' and '_')."""
    if not re.fullmatch(r"[\w-]{1,32}", value):
        raise StoreError(f"invalid filter value {value!r}")
    return value


@dataclass(frozen=True)
class Lexical:
    """BM25 hits in BM25 order, with their stored vectors (one row each)."""

    hits: list[Hit]
    vectors: np.ndarray

    def scored(self, vector: Sequence[float]) -> list[Hit]:
        """The hits, each scored by its cosine to `vector` (vectors are unit length)."""
        if not self.hits:
            return []
        cosines = self.vectors @ np.asarray(vector, dtype=np.float32)
        return [replace(h, score=float(c)) for h, c in zip(self.hits, cosines, strict=True)]


def to_hit(row: dict) -> Hit:
    """A search result as a Hit, scored by its distance."""
    entity = row["entity"]
    score = float(row["distance"])
    return Hit(
        doc=entity["doc"],
        heading=entity["heading"],
        text=entity["text"],
        score=score,
        chunk_id=str(row.get("id", entity.get("id", ""))),
        pages=entity.get("pages") or "",
        lang=entity.get("lang") or "",
        kb=entity.get("kb") or "",
    )
