"""The live version's vectors held in the serving process, for dense search without a full scan
in Milvus.

A Milvus Lite search costs 20-30 ms at 10k chunks and 300-400 ms at 100k whatever it asks,
where numpy scores the same rows in a few milliseconds. So a process that searches keeps one
compact copy of the live version: each row's vector as int8 with a scale of its own (1.3 KB at
1280-d, a quarter of float32), its id, language, groups and knowledge base. A search scores
every row it may read from the copy, takes the rows that can still be in the top k given the
rounding (`SPREAD` standard deviations of it), reads those rows' float vectors and texts from
Milvus by id in one query, and ranks them by their exact inner products: the hits and scores a
FLAT search gives. A version of at most a quarter of the limit keeps its float vectors and
texts too (`HELD_SHARE`), and its candidates are read from memory. The copy is read in the
background once per version; until it is ready, and for an index larger than
`RAG_RESIDENT_MAX_CHUNKS`, searches go to Milvus. Who may read which row is decided by
`Access.allows`, the same rule `Access.condition` gives Milvus (tested to agree on a real
index).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from pymilvus import MilvusClient, MilvusException

from retrieval.access import Access
from retrieval.types import Hit

log = logging.getLogger(__name__)
# Milvus Lite gives the iterator no server timestamp, and pymilvus warns of it on every read.
logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)

FIELDS = ["id", "vector", "lang", "kb", "groups"]  # what every copy holds
SHOWN = ["id", "vector", "doc", "heading", "text", "pages", "lang", "kb"]  # read per search
# A version of at most a quarter of the limit also keeps its float vectors and texts (6-8 MB a
# thousand chunks), so a search reads its candidates from memory, not from Milvus (a query by
# id costs 8-20 ms on Lite for a search's 40-120 candidates); past it, 1.4 MB a thousand.
HELD_SHARE = 4
BATCH = 256  # rows read at a time
# A copy lasts a whole version, so it is read with every write before it seen (a server's
# default, Bounded, may lag a moment behind, which a search shrugs off but a copy would keep).
STRONG = "Strong"
RETRY_S = 30.0  # after a failed read, Milvus answers this long before the next try
LEVELS = 127  # int8 codes run -127..127
# Rounding each of a row's components to its scale / 127 moves its inner product with a query
# by about scale * |query| / sqrt(12) (one standard deviation; the sum of many independent
# rounding errors). A row is re-scored when its rounded score is within 2 * SPREAD of those of
# the k-th best: a row of the true top k is missed only if its error, or one of the rounded
# top k's, passes SPREAD deviations (odds below 1e-6 a row).
SPREAD = 5.0
SCORED = 256  # rows turned back into float32 at a time when scoring (stays in the CPU cache)


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
class Rows:
    """Reads a version's rows by id: the float vectors and what a hit shows."""

    client: MilvusClient
    collection: str

    def read(self, ids: list[str]) -> dict[str, dict]:
        """id -> row for every id; read again with every write seen if some are missing (a
        row retired since was written again), and an error if they are gone (the version was
        dropped: the caller starts over from the live one)."""
        found = self._query(ids, None)
        if len(found) < len(ids):
            found = self._query(ids, STRONG)
        if len(found) < len(ids):
            raise MilvusException(message=f"rows of {self.collection} are gone: read it again")
        return found

    def _query(self, ids: list[str], level: str | None) -> dict[str, dict]:
        extra = {"consistency_level": level} if level else {}
        where = f"id in {json.dumps(ids)}"
        rows = self.client.query(self.collection, filter=where, output_fields=SHOWN, **extra)
        return {str(row["id"]): row for row in rows}


@dataclass(frozen=True)
class Resident:
    """One version's rows, in memory: row i is codes[i] * scales[i], ids[i], langs[i],
    readers[i]; its text is read from `rows` when it is a candidate."""

    key: Key
    ids: np.ndarray  # (rows,) bytes: the chunk ids, UTF-8
    codes: np.ndarray  # (rows, dim) int8: the vector divided by its scale, rounded
    scales: np.ndarray  # (rows,) float32: the largest component of the vector / 127
    langs: np.ndarray  # (rows,) bytes: the language of each row
    readers: np.ndarray  # each row's index into `shelves`
    shelves: tuple[tuple[tuple[str, ...], str], ...]  # distinct (groups, kb) of the rows
    blocks: dict[str, tuple[int, int]]  # the rows [start, end) of each language of the key
    rows: Rows = field(compare=False)
    exact: np.ndarray | None = None  # (rows, dim) float32, on a version of HELD_SHARE or less
    shown: tuple[tuple[str, str, str, str], ...] | None = None  # doc, heading, text, pages

    @property
    def nbytes(self) -> int:
        """Memory held by the row arrays (texts not counted)."""
        arrays = (self.ids, self.codes, self.scales, self.langs, self.readers)
        return sum(a.nbytes for a in arrays) + (self.exact.nbytes if self.exact is not None else 0)

    def search(self, vector, k: int, access: Access, lang: str = "") -> list[Hit]:
        """The k rows with the highest inner product that `access` may read (and in `lang`
        if given), best first, with exact scores: what a FLAT search with the same filter
        returns."""
        start, end = self.blocks.get(lang, (0, len(self.ids)))
        mask = self._readable(access, lang, start, end)
        k = min(k, int(mask.sum()))
        if not k:
            return []
        query = np.asarray(vector, dtype=np.float32)
        rounded = approximate(self.codes[start:end], self.scales[start:end], query)
        rounded[~mask] = -np.inf
        chosen = start + candidates(rounded, k, spread(self.scales[start:end], query))
        return self._exact(chosen, query, k)

    def _readable(self, access: Access, lang: str, start: int, end: int) -> np.ndarray:
        allowed = np.fromiter(
            (access.allows(groups, kb) for groups, kb in self.shelves), bool, len(self.shelves)
        )
        mask = allowed[self.readers[start:end]]
        if lang and lang not in self.blocks:
            mask &= self.langs[start:end] == lang.encode()
        return mask

    def _exact(self, chosen: np.ndarray, query: np.ndarray, k: int) -> list[Hit]:
        """The candidates' float vectors and texts (held, or read from Milvus), ranked
        exactly."""
        vectors, found = self._candidates(chosen)
        scores = vectors @ query
        order = np.argsort(-scores, kind="stable")[:k]
        return [to_hit(found[i], float(scores[i])) for i in order]

    def _candidates(self, chosen: np.ndarray) -> tuple[np.ndarray, list[dict]]:
        ids = [self.ids[i].decode() for i in chosen]
        if self.exact is None or self.shown is None:
            found = self.rows.read(ids)
            rows = [found[i] for i in ids]
            return np.asarray([row["vector"] for row in rows], dtype=np.float32), rows
        rows = []
        for row, chunk_id in zip(chosen, ids, strict=True):
            doc, heading, text, pages = self.shown[row]
            kb = self.shelves[self.readers[row]][1]
            rows.append({"id": chunk_id, "doc": doc, "heading": heading, "text": text,
                         "pages": pages, "lang": self.langs[row].decode(), "kb": kb})  # fmt: skip
        return self.exact[chosen], rows


def approximate(codes: np.ndarray, scales: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Inner products of the query with the rounded rows, a slice at a time (no float32 copy
    of the whole block)."""
    out = np.empty(len(codes), dtype=np.float32)
    slab = np.empty((min(SCORED, len(codes)), codes.shape[1] if codes.ndim == 2 else 0),
                    dtype=np.float32)  # fmt: skip
    for at in range(0, len(codes), SCORED):
        part = slab[: min(SCORED, len(codes) - at)]
        part[...] = codes[at : at + len(part)]
        np.dot(part, query, out=out[at : at + len(part)])
    out *= scales
    return out


def spread(scales: np.ndarray, query: np.ndarray) -> float:
    """SPREAD standard deviations of the rounding error of the rows' scores with `query`."""
    largest = float(scales.max()) if len(scales) else 0.0
    return SPREAD * largest * float(np.linalg.norm(query)) / math.sqrt(12)


def candidates(rounded: np.ndarray, k: int, spread: float) -> np.ndarray:
    """Rows whose rounded score is within 2 * spread of the k-th best: every row of the exact
    top k, when no rounding error passes `spread`."""
    kth = np.partition(rounded, len(rounded) - k)[len(rounded) - k]
    return np.flatnonzero(rounded >= kth - 2 * spread)


def quantised(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 codes, float32 scales): each row divided by its largest component / 127."""
    scales = np.abs(vectors).max(axis=1) / LEVELS
    scales[scales == 0] = 1.0
    codes = np.rint(vectors / scales[:, None]).astype(np.int8)
    return codes, scales.astype(np.float32)


def to_hit(row: dict, score: float) -> Hit:
    return Hit(row["doc"], row["heading"], row["text"], score, str(row["id"]),
               pages=row.get("pages") or "", lang=row.get("lang") or "",
               kb=row.get("kb") or "")  # fmt: skip


def read(client: MilvusClient, key: Key, limit: int) -> Resident | None:
    """The version's rows read into memory, one language after another; None if it holds
    more than `limit` rows. The codes go straight into one array sized by counting first (no
    second copy at the end)."""
    counts = [_count(client, key.collection, where) for _, where in key.parts()]
    total = sum(counts)
    if total > limit:
        return None
    held = total <= limit // HELD_SHARE
    reading = _Reading(total, held)
    blocks = {}
    for (lang, where), count in zip(key.parts(), counts, strict=True):
        start = len(reading.ids)
        for batch in _batches(client, key.collection, where, held):
            reading.add(batch)
        if len(reading.ids) - start != count:
            raise RuntimeError("the version changed while it was read")
        if lang:
            blocks[lang] = (start, len(reading.ids))
    return reading.done(key, blocks, Rows(client, key.collection))


class _Reading:
    """Rows as they arrive, the vectors rounded into arrays of the counted size."""

    def __init__(self, total: int, held: bool):
        self.total, self.held = total, held
        self.exact = np.empty((total, 0), dtype=np.float32)
        self.shown: list[tuple[str, str, str, str]] = []
        self.ids: list[bytes] = []
        self.codes: np.ndarray | None = None
        self.scales = np.empty(total, dtype=np.float32)
        self.langs: list[bytes] = []
        self.readers: list[int] = []
        self.shelves: dict[tuple[tuple[str, ...], str], int] = {}

    def add(self, batch: list[dict]) -> None:
        at = len(self.ids)
        if at + len(batch) > self.total:
            raise RuntimeError("the version changed while it was read")
        vectors = np.asarray([row["vector"] for row in batch], dtype=np.float32)
        codes, scales = quantised(vectors)
        if self.codes is None:
            self.codes = np.empty((self.total, codes.shape[1]), dtype=np.int8)
            if self.held:
                self.exact = np.empty((self.total, codes.shape[1]), dtype=np.float32)
        if self.held:
            self.exact[at : at + len(batch)] = vectors
            self.shown += [(r["doc"], r["heading"], r["text"], r.get("pages") or "") for r in batch]
        self.codes[at : at + len(batch)] = codes
        self.scales[at : at + len(batch)] = scales
        for row in batch:
            self.ids.append(str(row["id"]).encode())
            self.langs.append((row.get("lang") or "").encode())
            shelf = (tuple(row.get("groups") or ()), row.get("kb") or "")
            self.readers.append(self.shelves.setdefault(shelf, len(self.shelves)))

    def done(self, key: Key, blocks: dict[str, tuple[int, int]], rows: Rows) -> Resident:
        count = len(self.ids)
        codes = self.codes[:count] if self.codes is not None else np.zeros((0, 0), np.int8)
        return Resident(
            key,
            np.asarray(self.ids, dtype=bytes),
            codes,
            self.scales[:count],
            np.asarray(self.langs, dtype=bytes),
            np.asarray(self.readers, dtype=np.int32),
            tuple(self.shelves),
            blocks,
            rows,
            self.exact[:count] if self.held else None,
            tuple(self.shown) if self.held else None,
        )


def _count(client: MilvusClient, collection: str, where: str) -> int:
    counted = client.query(
        collection, filter=where, output_fields=["count(*)"], consistency_level=STRONG
    )
    return int(counted[0]["count(*)"]) if counted else 0


def _batches(client: MilvusClient, collection: str, where: str, held: bool) -> Iterator[list[dict]]:
    fields = sorted({*FIELDS, *SHOWN}) if held else FIELDS
    found = client.query_iterator(
        collection, batch_size=BATCH, filter=where, output_fields=fields, consistency_level=STRONG
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
