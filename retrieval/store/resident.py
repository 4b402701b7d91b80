"""The live version's vectors held in the serving process, for dense search without a round trip.

A Milvus Lite search costs 20-30 ms at 10k chunks whatever it asks, where the same exact inner
products in numpy cost about a millisecond. So a process that searches keeps one copy of the
live version: its vectors, what a hit shows, and each row's language, groups and knowledge
base. It is read in the background once per version (about 4 s at 10k chunks); until it is
ready, and for an index larger than `RAG_RESIDENT_MAX_CHUNKS`, searches go to Milvus. The copy
is exact (FLAT), whatever index Milvus holds. Who may read which row is decided by
`Access.allows`, the same rule `Access.condition` gives Milvus (tested to agree on a real index).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pymilvus import MilvusClient

from retrieval.access import Access
from retrieval.types import Hit

log = logging.getLogger(__name__)
# Milvus Lite gives the iterator no server timestamp, and pymilvus warns of it on every read.
logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)

FIELDS = ["id", "vector", "doc", "heading", "text", "pages", "lang", "kb", "groups"]
BATCH = 256  # rows read at a time: each batch's vectors become float32 at once
# A copy lasts a whole version, so it is read with every write before it seen (a server's
# default, Bounded, may lag a moment behind, which a search shrugs off but a copy would keep).
STRONG = "Strong"
RETRY_S = 30.0  # after a failed read, Milvus answers this long before the next try


@dataclass(frozen=True)
class Key:
    """Which version a copy holds: the collection and its visibility filter (and the languages
    its rows are in, each read into one block so that a search in one language scores only it)."""

    collection: str
    visible: str
    languages: tuple[str, ...] = ()

    def parts(self) -> list[tuple[str, str]]:
        """(language, filter) of each block: one per language, then any other rows."""
        if not self.languages:
            return [("", self.visible)]
        named = [(x, f"{self.visible} and lang == {json.dumps(x)}") for x in self.languages]
        rest = f"{self.visible} and lang not in {json.dumps(list(self.languages))}"
        return [*named, ("", rest)]


@dataclass(frozen=True)
class Resident:
    """One version's rows, in memory: row i is vectors[i], shown[i], langs[i], readers[i]."""

    key: Key
    ids: tuple[str, ...]
    vectors: np.ndarray  # (rows, dim) float32, unit length
    shown: tuple[tuple[str, str, str, str, str], ...]  # doc, heading, text, pages, kb
    langs: np.ndarray  # the language of each row
    readers: np.ndarray  # each row's index into `shelves`
    shelves: tuple[tuple[tuple[str, ...], str], ...]  # distinct (groups, kb) of the rows
    blocks: dict[str, tuple[int, int]]  # the rows [start, end) of each language of the key

    def search(self, vector, k: int, access: Access, lang: str = "") -> list[Hit]:
        """The k rows with the highest inner product that `access` may read (and in `lang`
        if given), best first: what a FLAT search with the same filter returns."""
        allowed = np.fromiter(
            (access.allows(groups, kb) for groups, kb in self.shelves), bool, len(self.shelves)
        )
        start, end = self.blocks.get(lang, (0, len(self.ids)))
        mask = allowed[self.readers[start:end]]
        if lang and lang not in self.blocks:
            mask &= self.langs == lang
        k = min(k, int(mask.sum()))
        if not k:
            return []
        # The block's rows scored (a view: no copy of the vectors), the others set aside.
        scores = self.vectors[start:end] @ np.asarray(vector, dtype=np.float32)
        scores[~mask] = -np.inf
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [self._hit(start + int(i), float(scores[i])) for i in top]

    def _hit(self, row: int, score: float) -> Hit:
        doc, heading, text, pages, kb = self.shown[row]
        lang = str(self.langs[row])
        return Hit(doc, heading, text, score, self.ids[row], pages=pages, lang=lang, kb=kb)


def read(client: MilvusClient, key: Key, limit: int) -> Resident | None:
    """The version's rows read into memory, one language after another; None if it holds
    more than `limit` rows. The vectors go straight into one array sized by counting first (no
    second copy at the end)."""
    counts = [_count(client, key.collection, where) for _, where in key.parts()]
    total = sum(counts)
    if total > limit:
        return None
    reading = _Reading(total)
    blocks = {}
    for (lang, where), count in zip(key.parts(), counts, strict=True):
        start = len(reading.ids)
        for batch in _batches(client, key.collection, where):
            reading.add(batch)
        if len(reading.ids) - start != count:
            raise RuntimeError("the version changed while it was read")
        if lang:
            blocks[lang] = (start, len(reading.ids))
    return reading.done(key, blocks)


class _Reading:
    """Rows as they arrive, the vectors into an array of the counted size."""

    def __init__(self, total: int):
        self.total = total
        self.ids: list[str] = []
        self.vectors: np.ndarray | None = None
        self.shown: list[tuple[str, str, str, str, str]] = []
        self.langs: list[str] = []
        self.readers: list[int] = []
        self.shelves: dict[tuple[tuple[str, ...], str], int] = {}

    def add(self, batch: list[dict]) -> None:
        at = len(self.ids)
        if at + len(batch) > self.total:
            raise RuntimeError("the version changed while it was read")
        part = np.asarray([row["vector"] for row in batch], dtype=np.float32)
        if self.vectors is None:
            self.vectors = np.empty((self.total, part.shape[1]), dtype=np.float32)
        self.vectors[at : at + len(batch)] = part
        for row in batch:
            self.ids.append(str(row["id"]))
            self.shown.append((row["doc"], row["heading"], row["text"], row.get("pages") or "",
                               row.get("kb") or ""))  # fmt: skip
            self.langs.append(row.get("lang") or "")
            shelf = (tuple(row.get("groups") or ()), row.get("kb") or "")
            self.readers.append(self.shelves.setdefault(shelf, len(self.shelves)))

    def done(self, key: Key, blocks: dict[str, tuple[int, int]]) -> Resident:
        empty = np.zeros((0, 0), dtype=np.float32)
        return Resident(
            key,
            tuple(self.ids),
            self.vectors[: len(self.ids)] if self.vectors is not None else empty,
            tuple(self.shown),
            np.asarray(self.langs, dtype=str),
            np.asarray(self.readers, dtype=np.int32),
            tuple(self.shelves),
            blocks,
        )


def _count(client: MilvusClient, collection: str, where: str) -> int:
    counted = client.query(
        collection, filter=where, output_fields=["count(*)"], consistency_level=STRONG
    )
    return int(counted[0]["count(*)"]) if counted else 0


def _batches(client: MilvusClient, collection: str, where: str) -> Iterator[list[dict]]:
    found = client.query_iterator(
        collection, batch_size=BATCH, filter=where, output_fields=FIELDS, consistency_level=STRONG
    )
    try:
        while batch := found.next():
            yield batch
    finally:
        found.close()


class Holder:
    """The copy a process searches, and the one background read that replaces it."""

    def __init__(self, client: MilvusClient, limit: int):
        self.client = client
        self.limit = limit
        self._copy: Resident | None = None
        self._reading: Key | None = None
        self._too_big: Key | None = None
        self._retry_at = 0.0  # after a failed read: not before this (time.monotonic)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)

    def get(self, key: Key) -> Resident | None:
        """The copy of version `key` if it is in memory; otherwise starts reading it (once)
        and returns None: search Milvus meanwhile."""
        if self.limit <= 0:
            return None
        with self._lock:
            copy = self._copy
            if copy is not None and copy.key == key:
                return copy
            idle = self._reading is None and time.monotonic() >= self._retry_at
            if idle and self._too_big != key:
                self._reading = key
                self._copy = None  # an older version's copy: no search can match it now
                threading.Thread(target=self._read, args=(key,), daemon=True,
                                 name="resident-read").start()  # fmt: skip
        return None

    def wait(self, key: Key, timeout: float) -> Resident | None:
        """Start reading version `key` if needed and wait for it (benchmarks and tests)."""
        self.get(key)
        with self._ready:
            self._ready.wait_for(lambda: self._reading is None, timeout)
        return self.get(key)

    def _read(self, key: Key) -> None:
        copy, failed = None, False
        try:
            copy = read(self.client, key, self.limit)
        except Exception as error:  # the version dropped meanwhile, a closed client: Milvus stays
            log.info("the resident copy of %s was not read: %s", key.collection, error)
            failed = True
        with self._ready:
            if copy is not None:
                self._copy = copy
            elif failed:
                self._retry_at = time.monotonic() + RETRY_S
            else:
                self._too_big = key  # not read again for this version
            self._reading = None
            self._ready.notify_all()
