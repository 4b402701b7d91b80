"""Scoring: the hit rule, the metrics (binary relevance; a few pure functions with known-answer
tests: ranx would add numba and llvmlite), and the figures per question group."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from evaluation.sets import Question
from retrieval.refusal import Signals
from retrieval.types import Hit

CUTOFFS = (1, 3, 5, 10)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def heading_key(line: str) -> str:
    return squash(line.strip().lstrip("#"))


def is_hit(hit: Hit, q: Question) -> bool:
    """The hit rule: contains the snippet, or is from the gold doc and holds the gold heading."""
    if not q.answerable:
        return False
    if q.answer_snippet and squash(q.answer_snippet) in squash(hit.text):
        return True
    if hit.doc != q.doc or not q.heading:
        return False
    lines = {heading_key(line) for line in hit.text.splitlines()}
    lines |= {heading_key(part) for part in hit.heading.split(" > ")}
    return heading_key(q.heading) in lines


def in_context(texts: Sequence[str], hits: Sequence[Hit], q: Question) -> bool:
    """Context recall for one question: the answer snippet is in the text the model would
    read (without a snippet, a passage given to it satisfies the hit rule)."""
    if not q.answerable:
        return False
    if q.answer_snippet:
        return squash(q.answer_snippet) in squash("\n".join(texts))
    return any(is_hit(h, q) for h in hits)


def page_found(r: Scored, k: int) -> bool:
    """Page-level recall: the gold page is among the top k, whichever section."""
    return any(h.doc == r.question.doc for h in r.hits[:k])


# --- metrics (binary relevance) -------------------------------------------------------------
def first_hit_rank(flags: Sequence[bool]) -> int | None:
    return next((i for i, flag in enumerate(flags, 1) if flag), None)


def recall_at(flags: Sequence[bool], k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def mrr_at(flags: Sequence[bool], k: int) -> float:
    rank = first_hit_rank(flags[:k])
    return 1.0 / rank if rank else 0.0


def ndcg_at(flags: Sequence[bool], k: int, relevant: int) -> float:
    """nDCG with binary gains; `relevant` is how many chunks in the index satisfy the rule."""
    dcg = sum(1.0 / math.log2(i + 1) for i, flag in enumerate(flags[:k], 1) if flag)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(relevant, k) + 1))
    return dcg / ideal if ideal else 0.0


@dataclass
class Scored:
    question: Question
    hits: list[Hit]
    flags: list[bool]
    relevant: int
    refused: bool  # without a model: refused flatly (with one, only an empty retrieval is)
    cross: bool = False  # asked in another language than the gold doc's
    signals: Signals | None = None
    weak: bool = False  # flagged "may not answer this" (or refused)
    doc_lang: str = ""  # the language of the gold document
    in_context: bool = False  # the answer is inside the passages the model would be given


def summarise(results: Sequence[Scored], k: int) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    figures: dict[str, float] = {}
    for cut in CUTOFFS:
        figures[f"recall@{cut}"] = _mean(recall_at(r.flags, cut) for r in answerable)
    figures[f"mrr@{k}"] = _mean(mrr_at(r.flags, k) for r in answerable)
    figures["page@5"] = _mean(page_found(r, 5) for r in answerable)
    figures["context"] = _mean(r.in_context for r in answerable)
    figures[f"ndcg@{k}"] = _mean(ndcg_at(r.flags, k, r.relevant) for r in answerable)
    figures["e2e@5"] = _mean(recall_at(r.flags, 5) * (not r.refused) for r in answerable)
    figures["refused_answerable"] = _mean(r.refused for r in answerable)
    figures["weak_answerable"] = _mean(r.weak for r in answerable)
    figures["refused_unanswerable"] = _mean(r.refused for r in unanswerable)
    figures["weak_unanswerable"] = _mean(r.weak for r in unanswerable)
    figures["questions"] = len(results)
    return figures


def group_results(results: Sequence[Scored]) -> dict[str, list[Scored]]:
    """'all', then in sets that mix languages: per question language (`lang=zh`, with that
    language's unanswerable questions), per direction question > answer (`zh>en`: Chinese
    questions that only an English page answers; answerable only), and 'cross-language'
    (both cross directions, plus the unanswerable ones)."""
    groups: dict[str, list[Scored]] = {"all": list(results)}
    langs = sorted({r.question.lang for r in results} | {r.doc_lang for r in results} - {""})
    if len(langs) < 2:
        return groups
    for lang in langs:
        groups[f"lang={lang}"] = [r for r in results if r.question.lang == lang]
    for asked in langs:
        for doc in langs:
            pair = [r for r in results if r.question.lang == asked and r.doc_lang == doc]
            if pair:
                groups[f"{asked}>{doc}"] = pair
    cross = [r for r in results if r.cross]
    if cross:
        groups["cross-language"] = cross + [r for r in results if not r.question.answerable]
    return groups


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0
