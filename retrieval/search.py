"""Question -> ranked passages: dense and BM25 candidates, fused, optionally reranked.

`Retriever.retrieve` returns a `Retrieval`: the final top-k and the candidate lists it was made
from, which the refusal rule reads (how well the best passage matches, and whether the two
searches agree on it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from retrieval.access import Access
from retrieval.batching import BatchingEmbedder
from retrieval.embedcache import CachedEmbedder
from retrieval.embeddings import (
    BLEND_OFFLINE,
    E5_OFFLINE,
    MILVUS_DEFAULT,
    MINILM_OFFLINE,
    USE_OFFLINE,
    BlendEmbedder,
    Embedder,
    load_embedder,
)
from retrieval.query_model import QueryModel, Variant
from retrieval.rerank import Reranker, load_reranker
from retrieval.settings import Settings
from retrieval.store import MILVUS_ERRORS, Lexical, Snapshot, Store, same_model
from retrieval.tokens import language
from retrieval.types import Hit

LOCAL_MODELS = {MILVUS_DEFAULT, MINILM_OFFLINE, E5_OFFLINE, USE_OFFLINE, BLEND_OFFLINE}
CENTRE_WINDOW = 10  # passages that set a language's usual match in fusion
POOL = 40  # candidates per ranking at least: the refusal rule's z-scores are taken over them


def embedder_for(settings: Settings, store: Store, follow_index: bool = True) -> Embedder:
    """Load the configured embedder; 'auto' follows the local model an index was built with."""
    info = store.info() if follow_index else None
    if settings.embedding_model == "auto" and info and info.embedding_model in LOCAL_MODELS:
        settings = settings.updated(embedding_model=info.embedding_model)
    embedder = load_embedder(settings)
    if not settings.embedding_cache:
        return embedder
    if isinstance(embedder, BlendEmbedder):  # each model's vectors cached on their own
        parts = [CachedEmbedder(p, settings.embedding_cache) for p in embedder.parts]
        return BlendEmbedder(embedder.name, parts)
    return CachedEmbedder(embedder, settings.embedding_cache)


@dataclass(frozen=True)
class Retrieval:
    """The passages found for one query, and the candidate lists they came from."""

    query: str
    hits: list[Hit]
    dense: list[Hit] = field(default_factory=list)  # by cosine, best first
    lexical: list[Hit] = field(default_factory=list)  # by BM25, best first (hybrid only)
    reranked: bool = False
    standout: float = 0.0  # dense_standing of the top hit: how far it stands out


@dataclass(frozen=True)
class Candidates:
    """One wording's fused ranking, the lists it came from and its dense standing."""

    ranked: list[Hit]
    dense: list[Hit]
    lexical: list[Hit]
    standing: dict[str, float]


def fuse_wordings(
    rankings: Sequence[Sequence[Hit]], how: str = "sum", margin: float = 0.0
) -> list[Hit]:
    """Rankings of several wordings of one question (each passage's `standing` its fused z in
    that wording's ranking), fused by the sum of standings (a ranking that missed a passage
    giving it its lowest) or by the best of them (`how="max"`); each passage keeps its best
    standing, so a translation that finds the answer clearly makes it as strong as if it had
    been asked that way. The rankings after the first (the question's other wordings) count
    `margin` less: another wording must find a passage clearly to move it past the question's
    own best."""
    rankings = [
        list(r) if i == 0 or not margin else [replace(h, standing=h.standing - margin) for h in r]
        for i, r in enumerate(rankings)
    ]
    if how == "interleave":
        return interleaved(rankings)
    floors = [min((h.standing for h in r), default=0.0) for r in rankings]
    by_id: dict[str, list[float | None]] = {}
    first: dict[str, Hit] = {}
    for i, ranking in enumerate(rankings):
        for hit in ranking:
            by_id.setdefault(hit.chunk_id, [None] * len(rankings))[i] = hit.standing
            first.setdefault(hit.chunk_id, hit)
    filled = {
        key: [floor if z is None else z for z, floor in zip(zs, floors, strict=True)]
        for key, zs in by_id.items()
    }
    total = {key: max(zs) if how == "max" else sum(zs) for key, zs in filled.items()}
    order = sorted(total, key=lambda key: -total[key])
    return [standing_as(first[key], max(z for z in by_id[key] if z is not None)) for key in order]


def interleaved(rankings: Sequence[Sequence[Hit]]) -> list[Hit]:
    """The rankings taken in turn, best first, each passage once (where it first comes): the
    question's best, then the other wording's best, then the question's second, and so on; each
    passage keeps its best standing."""
    best: dict[str, float] = {}
    for ranking in rankings:
        for hit in ranking:
            best[hit.chunk_id] = max(best.get(hit.chunk_id, -math.inf), hit.standing)
    order: dict[str, Hit] = {}
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank].chunk_id not in order:
                hit = ranking[rank]
                order[hit.chunk_id] = standing_as(hit, best[hit.chunk_id])
    return list(order.values())


def page_lifted(ranked: Sequence[Hit], weight: float, depth: int = POOL) -> list[Hit]:
    """The ranking with each passage lifted by `weight` times the standing of its page's best
    other passage among the top `depth` (when that is above the usual match): a page whose
    several sections match the question puts its best section ahead of a lone match on a page
    that says little else about it. Standings are kept as they were (the refusal rule reads
    them); only the order changes."""
    if weight <= 0:
        return list(ranked)
    best: dict[str, list[float]] = {}
    for hit in ranked[:depth]:
        best.setdefault(hit.doc, []).append(max(0.0, hit.standing))
    tops = {doc: sorted(values, reverse=True)[:2] for doc, values in best.items()}

    def other(hit: Hit) -> float:
        values = tops.get(hit.doc, [])
        own = max(0.0, hit.standing)
        if values and own == values[0]:
            return values[1] if len(values) > 1 else 0.0
        return values[0] if values else 0.0

    return sorted(ranked, key=lambda h: -(h.standing + weight * other(h)))


def fuse(
    rankings: Sequence[Sequence[Hit]], rrf_k: int, weights: Sequence[float] | None = None
) -> list[Hit]:
    """Weighted reciprocal rank fusion: list i adds weight_i / (rrf_k + rank) to a passage;
    ties keep the order of the first list that has them."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, hit in enumerate(ranking, 1):
            key = hit.chunk_id or f"{hit.doc}\x00{hit.text}"
            scores[key] = scores.get(key, 0.0) + weight / (rrf_k + rank)
            first.setdefault(key, hit)
    order = sorted(scores, key=lambda key: -scores[key])  # sorted() is stable
    best = sum(weights or [1.0] * len(rankings)) / (rrf_k + 1)  # first in every list
    return [replace(first[key], relevance=min(1.0, scores[key] / best)) for key in order]


WEAK_LINE = 3.5  # the default of settings.weak_below: where relevance is 0.5


def relevance(standing: float) -> float:
    """A fused (or dense) z-score as the 0..1 figure users see: 0.5 at the default weak-match
    line (z 3.5), near 0 for a typical candidate, near 1 for a clear winner; the same meaning
    in the sources, the passage blocks, the feedback page and the API."""
    return 1.0 / (1.0 + math.exp(-(standing - WEAK_LINE)))


def standing_as(hit: Hit, standing: float) -> Hit:
    return replace(hit, standing=standing, relevance=relevance(standing))


def rerank_relevance(score: float | None) -> float:
    """A reranker's score as relevance: cross-encoders and the LLM reranker score in 0..1
    already; a raw logit goes through the logistic function."""
    value = score or 0.0
    return value if 0.0 <= value <= 1.0 else 1.0 / (1.0 + math.exp(-value))


def _by_score(hit: Hit) -> float:
    return -hit.score


def standardised(scores: Sequence[float]) -> list[float]:
    """z-scores of a list (all 0 when it has no spread)."""
    if len(scores) < 2:
        return [0.0] * len(scores)
    mean = sum(scores) / len(scores)
    spread = (sum((x - mean) ** 2 for x in scores) / len(scores)) ** 0.5
    return [(x - mean) / spread if spread > 1e-9 else 0.0 for x in scores]


def centred(ranking: Sequence[Hit], window: int = CENTRE_WINDOW) -> list[float]:
    """Cosines minus the mean of the list's best `window`: how far a passage stands above
    the usual match in its language (a question scores higher on passages in its own
    language, whatever they say)."""
    top = [h.score for h in ranking[:window]]
    mean = sum(top) / len(top) if top else 0.0
    return [h.score - mean for h in ranking]


def dense_standing(partitions: Sequence[Sequence[Hit]]) -> dict[str, float]:
    """chunk id -> z-score of its language-centred cosine among all dense candidates: how far
    a passage stands out, comparable across languages."""
    shifted: dict[str, float] = {}
    for ranking in partitions:
        for hit, value in zip(ranking, centred(ranking), strict=True):
            shifted[hit.chunk_id] = value
    return dict(zip(shifted, standardised(list(shifted.values())), strict=True))


def lexical_standing(lexical: Sequence[Hit]) -> tuple[dict[str, float], dict[str, float]]:
    """chunk id -> z-score of its BM25 score among the BM25 hits of its own language, and
    language -> the lowest of them. BM25 only matches words the question shares with a
    passage, so it can say which Chinese passage is best for a Chinese question, never that
    an English one is worse: each language is scored apart, and a language BM25 found nothing
    in counts as neutral (no floor)."""
    by_lang: dict[str, list[Hit]] = {}
    for hit in lexical:
        by_lang.setdefault(passage_language(hit), []).append(hit)
    standing: dict[str, float] = {}
    floors: dict[str, float] = {}
    for lang, hits in by_lang.items():
        z = standardised([h.lexical_score or 0.0 for h in hits])
        standing.update(zip([h.chunk_id for h in hits], z, strict=True))
        floors[lang] = min(z, default=0.0)
    return standing, floors


def passage_language(hit: Hit) -> str:
    return hit.lang or language(hit.text)


def fuse_standardised(
    partitions: Sequence[Sequence[Hit]],
    lexical: Sequence[Hit],
    lexical_weight: float,
    standing: dict[str, float] | None = None,
) -> list[Hit]:
    """Fusion by standardised scores: the dense lists (one per language, each centred on its
    usual match) and the BM25 list are each turned into z-scores, so a passage counts by how
    far it stands out, and its score is its dense z plus `lexical_weight` times its BM25 z
    (within its language; see `lexical_standing`). A list that missed a passage gives it that
    list's lowest z."""
    hits = {h.chunk_id: h for ranking in partitions for h in ranking}
    dense_z = dense_standing(partitions) if standing is None else standing
    lexical_z, lexical_floors = lexical_standing(lexical)
    for hit in lexical:
        hits.setdefault(hit.chunk_id, hit)
    dense_floor = min(dense_z.values(), default=0.0)

    def lexical_of(hit: Hit) -> float:
        return lexical_z.get(hit.chunk_id, lexical_floors.get(passage_language(hit), 0.0))

    combined = {
        key: dense_z.get(key, dense_floor) + lexical_weight * lexical_of(hit)
        for key, hit in hits.items()
    }
    ranked = sorted(hits.values(), key=lambda h: -combined[h.chunk_id])
    return [standing_as(h, combined[h.chunk_id]) for h in ranked]


class Retriever:
    """Top-k search over the live index with the model that built it."""

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        query_model: QueryModel | None = None,
    ):
        self.settings = settings
        self.query_model = query_model
        self._languages: tuple[str, ...] = ()  # the index's, as last seen: what to translate into
        self.store = store or Store(settings)
        # questions asked at once are embedded in one batch (retrieval/batching.py)
        self.embedder = embedder or BatchingEmbedder(embedder_for(settings, self.store))
        self.reranker = reranker or load_reranker(settings)
        # One question, one wait: its index round trips run side by side on these threads.
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search")

    def retrieve(self, query: str, k: int | None = None, *, access: Access) -> Retrieval:
        """Dense (and in hybrid mode BM25) candidates, fused, reranked if configured; every
        search of one retrieval reads the same index version, and only what `access` may.
        The version is looked up and BM25 searched while the question is embedded; the dense
        search of each language runs side by side. With a query model, its call runs beside
        all of that, and the wordings it writes are searched too and fused in."""
        k = k or self.settings.top_k
        pool = max(4 * k, self.settings.rerank_candidates, POOL)
        helping = self.query_model.start(query, self._languages) if self.query_model else None
        begun = self._threads.submit(self._begin, query, pool, access)
        vector = self.embedder.embed_queries([query])[0]
        try:
            return self._retrieve(query, k, pool, vector, *begun.result(), helping)
        except MILVUS_ERRORS:  # the version was dropped by a rebuild meanwhile: once more
            self.store.forget_loaded()
            begun_again = self._begin(query, pool, access)
            return self._retrieve(query, k, pool, vector, *begun_again, helping)

    def _begin(self, query: str, pool: int, access: Access) -> tuple[Snapshot, Lexical | None]:
        """What needs no query vector, done while the question is embedded: the version to
        read, and (hybrid) the BM25 search."""
        at = self.store.snapshot(access=access)
        return at, self._text_search(query, pool, at)

    def _text_search(self, query: str, pool: int, at: Snapshot) -> Lexical | None:
        if not self.store.hybrid(self.settings.search_mode):
            return None
        return self.store.text_search(query, pool, at)

    def _retrieve(
        self,
        query: str,
        k: int,
        pool: int,
        vector: np.ndarray,
        at: Snapshot,
        bm25: Lexical | None,
        helping: Future[tuple[Variant, ...]] | None = None,
    ) -> Retrieval:
        info = same_model(at.info, self.embedder.name, self.embedder.dim)
        self._languages = info.languages if info else ()
        found = [self._candidates(query, vector, pool, info, at, bm25)]
        found += self._helped(helping, pool, info, at)
        best = found[0]
        if len(found) > 1:
            s = self.settings
            ranked = fuse_wordings([c.ranked for c in found], s.query_fusion, s.query_margin)
            best = max(found, key=lambda c: c.standing.get(ranked[0].chunk_id, -math.inf))
        else:
            ranked = best.ranked
        candidates = ranked[: max(k, self.settings.rerank_candidates)]
        reranked = self.reranker.rerank(query, candidates)
        if reranked is not None:
            reranked = [replace(h, relevance=rerank_relevance(h.rerank_score)) for h in reranked]
        hits = (reranked if reranked is not None else candidates)[:k]
        standing = best.standing
        top = standing.get(hits[0].chunk_id, min(standing.values(), default=0.0)) if hits else 0.0
        return Retrieval(query, hits, best.dense, best.lexical, reranked is not None, top)

    def _candidates(
        self, query: str, vector: np.ndarray, pool: int, info, at: Snapshot, bm25: Lexical | None
    ) -> Candidates:
        """One wording's fused ranking and the lists it came from."""
        own = language(query)
        partitions = self._dense_rankings(own, vector, pool, info, at)
        dense = sorted({h.chunk_id: h for r in partitions for h in r}.values(), key=_by_score)
        lexical = self._lexical_scored(bm25, vector, own) if bm25 else []
        standing = dense_standing(partitions)  # for the fusion and for the refusal rule
        if len(partitions) > 1 or lexical:
            ranked = self._fuse(partitions, lexical, standing)
        else:
            ranked = [standing_as(h, standing.get(h.chunk_id, 0.0)) for h in dense]
        ranked = page_lifted(ranked, self.settings.page_weight)
        return Candidates(ranked, dense, lexical, standing)

    def _helped(
        self, helping: Future[tuple[Variant, ...]] | None, pool: int, info, at: Snapshot
    ) -> list[Candidates]:
        """The query model's wordings searched in the same version (a translation only where
        the index holds its language); none when the model failed or ran out of time."""
        if helping is None or self.query_model is None:
            return []
        languages = info.languages if info else ()
        variants = [
            v
            for v in self.query_model.variants(helping)
            if v.kind != "translation" or not languages or v.lang in languages
        ]
        if not variants:
            return []
        wordings = [v.text for v in variants]
        lexical = [self._threads.submit(self._text_search, w, pool, at) for w in wordings]
        vectors = self.embedder.embed_queries(wordings)
        found = []
        for v, vec, bm25 in zip(variants, vectors, lexical, strict=True):
            c = self._candidates(v.text, vec, pool, info, at, bm25.result())
            if v.kind == "translation" and self.settings.translation_scope == "own":
                # the translation speaks for its language's passages; the question for its own
                c = replace(c, ranked=[h for h in c.ranked if passage_language(h) == v.lang])
            found.append(c)
        return found

    def _dense_rankings(
        self, own: str, vector: np.ndarray, pool: int, info, at: Snapshot
    ) -> list[list[Hit]]:
        """One dense ranking, or with language balance one per language of the index (the
        question's language `own` first), so a question in one language still sees the best
        passages of the other; each search weighs a blend's models for its language pair, and
        the searches run side by side."""
        languages = info.languages if info else ()
        if not self.settings.language_balance or len(languages) < 2:
            held = languages[0] if len(languages) == 1 else own  # an English question over
            # a Chinese-only index is weighed as English > Chinese, not English > English
            return [self.store.dense_search(self._weighted(vector, own, held), pool, at)]
        ordered = sorted(languages, key=lambda lang: lang != own)
        searches = [
            self._threads.submit(
                self.store.dense_search, self._weighted(vector, own, lang), pool, at, lang
            )
            for lang in ordered[1:]
        ]
        mine = ordered[0]
        first = self.store.dense_search(self._weighted(vector, own, mine), pool, at, mine)
        return [first, *(search.result() for search in searches)]

    def _lexical_scored(self, bm25: Lexical, vector: np.ndarray, own: str) -> list[Hit]:
        """BM25's hits, each scored by its cosine to the question weighed for its own
        language pair, as the dense search of that language weighs it."""
        langs = {passage_language(h) for h in bm25.hits}
        scored = {lang: bm25.scored(self._weighted(vector, own, lang)) for lang in langs}
        return [scored[passage_language(h)][i] for i, h in enumerate(bm25.hits)]

    def _weighted(self, vector: np.ndarray, asked: str, passages: str) -> list[float]:
        """The query vector for searching `passages`-language text with an `asked`-language
        question (a blend weighs its models per pair; one model: the vector as it is)."""
        weights = self.settings.blend_weights.get(f"{asked}>{passages}")
        return (self.embedder.weighted(vector, weights) if weights else vector).tolist()

    def _fuse(
        self, partitions: list[list[Hit]], lexical: list[Hit], standing: dict[str, float]
    ) -> list[Hit]:
        s = self.settings
        if s.fusion == "zscore":
            return fuse_standardised(partitions, lexical, s.lexical_weight, standing)
        weights = [1.0] + [s.other_language_weight] * (len(partitions) - 1)
        rankings = [*partitions, lexical] if lexical else partitions
        fused = fuse(rankings, s.rrf_k, weights + ([s.lexical_weight] if lexical else []))
        floor = min(standing.values(), default=0.0)  # rank fusion has no scale: the dense z
        return [replace(h, standing=standing.get(h.chunk_id, floor)) for h in fused]

    def search(self, query: str, k: int | None = None, *, access: Access) -> list[Hit]:
        """The k best passages for the query that `access` may read."""
        return self.retrieve(query, k, access=access).hits

    def close(self) -> None:
        if self.query_model is not None:
            self.query_model.close()
        self._threads.shutdown(wait=True)
        self.store.close()
