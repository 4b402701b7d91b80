"""Questions asked at the same time embedded together: one model call for all of them.

A serving process answers many people on a few cores. Each question embedded alone costs a call
of every model, and twenty questions at once queue behind each other's calls; embedded together
they cost little more than one call each. `BatchingEmbedder` wraps the embedder a retriever
uses: the first question finds the model idle and is embedded at once (a lone question never
waits for company); questions that arrive while it runs wait, and when it is done they go
together as the next batch, led by the first of them. So a batch is whatever gathered during
the one before: no timer to tune, and the model is never idle while someone waits.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from retrieval.embeddings import Embedder


@dataclass
class _Asked:
    """One caller's texts, and what it gets back: its vectors, an error, or the lead."""

    texts: list[str]
    ready: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    error: BaseException | None = None
    leads: bool = False


class BatchingEmbedder(Embedder):
    """Wraps an embedder: queries from concurrent callers go to it in one batch; passages as
    they come (ingest batches its own)."""

    def __init__(self, inner: Embedder):
        self.inner, self.info = inner, inner.info
        self._lock = threading.Lock()
        self._waiting: list[_Asked] = []
        self._busy = False
        self.batches = 0  # model calls made (the tests and the bench read it)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_documents(texts)

    def weighted(self, vector: np.ndarray, weights: Sequence[float]) -> np.ndarray:
        return self.inner.weighted(vector, weights)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        asked = _Asked(list(texts))
        with self._lock:
            self._waiting.append(asked)
            if not self._busy:
                self._busy = asked.leads = True
        if not asked.leads:
            asked.ready.wait()  # done by another caller's batch, or handed the lead
        if asked.leads:
            self._run()
        if asked.error is not None:
            raise asked.error
        return asked.vectors

    def _run(self) -> None:
        """Embed everything waiting as one batch, hand each caller its rows, and pass the lead
        to the first caller that arrived meanwhile (or leave the model idle)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            vectors = self.inner.embed_queries([t for a in batch for t in a.texts])
            at = 0
            for asked in batch:
                asked.vectors, at = vectors[at : at + len(asked.texts)], at + len(asked.texts)
        except BaseException as error:  # every caller of the batch hears of it
            for asked in batch:
                asked.error = error
        finally:
            with self._lock:
                self.batches += 1
                if self._waiting:
                    self._waiting[0].leads = True
                    self._waiting[0].ready.set()
                else:
                    self._busy = False
            for asked in batch:
                asked.leads = False
                asked.ready.set()
