"""Does the index answer this query? Decided from the retrieval, before any model is called.

The rule reads more than the best passage's cosine: the signals are computed by `signals`
(pure, tested), and `should_refuse` combines them with the thresholds in settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.search import Retrieval
from retrieval.settings import Settings

MIN_CANDIDATES = 20  # the z-score of the best of n is at most sqrt(n - 1)


@dataclass(frozen=True)
class Signals:
    """What a retrieval says about whether the docs answer the query."""

    top: float  # best cosine among the final hits
    gap: float  # best cosine minus the fifth best among dense candidates
    standout: float  # how far the top hit stands out among the dense candidates (z-score)
    agree: bool  # the final top hit is also among BM25's top candidates
    rerank: float | None  # the reranker's best score, when one ran


def signals(found: Retrieval, agree_depth: int = 5) -> Signals:
    hits = found.hits
    top = max((h.score for h in hits), default=float("-inf"))
    dense = [h.score for h in found.dense]
    gap = dense[0] - dense[min(4, len(dense) - 1)] if dense else 0.0
    lexical = {h.chunk_id for h in found.lexical[:agree_depth]}
    agree = bool(hits) and hits[0].chunk_id in lexical
    scores = [h.rerank_score for h in hits if h.rerank_score is not None]
    standout = found.standout
    return Signals(top, gap, standout, agree, max(scores) if scores else None)


def should_refuse(found: Retrieval, settings: Settings) -> bool:
    """True when the passages found are unlikely to answer the query.

    With a reranker, its best score decides. Otherwise the top passage must stand out among
    the dense candidates (`refuse_standout`), and further still when BM25 does not also rank
    it in its top five (`refuse_standout_unconfirmed`); thresholds were calibrated on the dev
    sets for at most 5% of answerable questions refused on every set (README).
    """
    if not found.hits:
        return True
    s = signals(found)
    if s.top < settings.min_score:
        return True
    if s.rerank is not None:
        return s.rerank < settings.rerank_min_score
    if len(found.dense) < MIN_CANDIDATES:
        return False  # too few passages for "stands out" to mean anything (a tiny index)
    if s.standout < settings.refuse_standout:
        return True
    unconfirmed = bool(found.lexical) and not s.agree
    return unconfirmed and s.standout < settings.refuse_standout_unconfirmed
