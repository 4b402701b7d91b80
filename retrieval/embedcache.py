"""A vector cache on disk: the same model and the same text never get embedded twice.

Keyed by (model name, query or passage, sha256 of the text), stored in one SQLite file, so a
rebuild, a chunking change or an evaluation of several configurations only embeds what is new.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.embeddings import Embedder
from retrieval.private import owner_only_file
from retrieval.types import sha256

SCHEMA = """CREATE TABLE IF NOT EXISTS vectors (
    model TEXT NOT NULL, kind TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model, kind, hash))"""


KEY = "model = ? AND kind = ?"


class CachedEmbedder(Embedder):
    """Wraps an embedder; vectors it has made before come from the cache file."""

    def __init__(self, inner: Embedder, path: Path):
        self.inner, self.info = inner, inner.info
        owner_only_file(path)  # vectors of private text; SQLite's journals take its mode
        self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
        self._db.execute(SCHEMA)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("passage", self.inner.embed_documents, texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._cached("query", self.inner.embed_queries, texts)

    def _cached(self, kind: str, encode, texts: Sequence[str]) -> np.ndarray:
        keys = [sha256(t) for t in texts]
        found = self._lookup(kind, set(keys))
        missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing:
            vectors = encode([t for _, t in missing])
            rows = [
                (self.name, kind, k, v.astype(np.float32).tobytes())
                for (k, _), v in zip(missing, vectors, strict=True)
            ]
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
            found.update({k: v for (k, _), v in zip(missing, vectors, strict=True)})
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def _lookup(self, kind: str, keys: set[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        wanted = sorted(keys)
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            query = f"SELECT hash, vector FROM vectors WHERE {KEY} AND hash IN ({marks})"
            rows = self._db.execute(query, [self.name, kind, *part])
            found.update({h: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        return found

    def close(self) -> None:
        self._db.close()
