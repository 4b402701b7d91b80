"""Answers measured end to end: each set's questions through the real answer pipeline with a
configured model (`docs-qa eval --answers --model NAME`), scored on what staff see.

Per question: which passages the answer cites and whether they are right ones (the eval's hit
rule), whether a value asked for (a number, a flag, a port, a version: what the gold snippet
holds) appears in the answer, whether the answer is in the question's language, whether it
declined (the cannot-answer sentence), whether it cites anything and is supported by what it
cites, and the time to the first token and in total.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from evaluation.run import build_index
from evaluation.score import is_hit
from evaluation.sets import DevSet, Question, load_questions
from retrieval.access import ALL
from retrieval.answer import Answer, answer_question
from retrieval.llm import open_chat
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.support import CODE, FIGURE, MARKER
from retrieval.tokens import language
from retrieval.types import Hit

#: How a question the docs do not answer gets declined, compared side by side.
ANSWER_CONFIGS: dict[str, dict[str, object]] = {
    "rule": {},  # the answer prompt's cannot-answer rule alone
    "relevance-check": {"relevance_check": "llm"},  # a yes/no call over the top passages first
    "llm-rerank": {"rerank": "llm"},  # the model orders the candidates, then the rule
}


@dataclass
class Answered:
    """One question's answer, scored."""

    question: Question
    answer: Answer
    cited: int = 0  # valid citations
    cited_right: int = 0  # of those, passages the hit rule accepts
    value_asked: bool = False  # the gold snippet holds a value (number, flag, port, version)
    value_given: bool = False
    same_language: bool = False
    declined: bool = False
    extra: dict = field(default_factory=dict)


def score_answer(q: Question, answer: Answer) -> Answered:
    cited = [s for s in answer.sources if s.cited]
    right = sum(is_hit(Hit(s.doc, s.heading, s.text, s.relevance), q) for s in cited)
    values = asked_values(q.answer_snippet or "") if q.answerable else []
    text = plain_answer(answer.answer)
    return Answered(
        q,
        answer,
        cited=len(cited),
        cited_right=right,
        value_asked=bool(values),
        value_given=any(_squash(v) in _squash(answer.answer) for v in values),
        same_language=bool(text) and language(text) == q.lang,
        declined=answer.status == "refused",
    )


def asked_values(snippet: str) -> list[str]:
    """The values a gold snippet holds: numbers (with their decimals, separators) and code."""
    found = [m.group(0) for m in FIGURE.finditer(snippet)] + CODE.findall(snippet)
    return list(dict.fromkeys(found))


def plain_answer(text: str) -> str:
    """The answer's own words: without citation markers and code (which is in any language)."""
    return " ".join(CODE.sub(" ", MARKER.sub(" ", text)).split())


def _squash(text: str) -> str:
    return " ".join(text.replace(",", "").lower().split())


def answer_questions(
    retriever: Retriever, settings: Settings, questions: Sequence[Question], label: str
) -> list[Answered]:
    chat = open_chat(settings)
    scored = []
    for q in tqdm(questions, desc=label, unit="q", file=sys.stderr):
        final = list(answer_question(q.question, [], retriever, chat, settings, access=ALL))[-1]
        scored.append(score_answer(q, final))
    return scored


def sample(questions: Sequence[Question], limit: int | None) -> list[Question]:
    """At most `limit` questions spread evenly over the file, each kind (answerable or not, per
    question language) in its share of the whole set and at least one of each where it fits."""
    if not limit or limit >= len(questions):
        return list(questions)
    kinds: dict[tuple[bool, str], list[Question]] = {}
    for q in questions:
        kinds.setdefault((q.answerable, q.lang), []).append(q)
    exact = {k: limit * len(members) / len(questions) for k, members in kinds.items()}
    quota = {k: int(v) for k, v in exact.items()}
    if limit >= len(kinds):
        quota = {k: max(1, n) for k, n in quota.items()}
    for k in sorted(exact, key=lambda k: quota[k] - exact[k]):  # largest remainders first
        if sum(quota.values()) >= limit:
            break
        quota[k] += 1
    while sum(quota.values()) > limit:  # the at-least-ones overshot: trim the biggest
        quota[max(quota, key=quota.get)] -= 1
    picked = {q.id for k, members in kinds.items() for q in _spread(members, quota[k])}
    return [q for q in questions if q.id in picked]


def _spread(items: Sequence[Question], n: int) -> list[Question]:
    if n <= 0:
        return []
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def summarise_answers(results: Sequence[Answered]) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    said = [r for r in answerable if not r.declined and r.answer.status == "answered"]
    valued = [r for r in answerable if r.value_asked]
    cited = sum(r.cited for r in results)
    timed = [r.answer.timings for r in results if r.answer.timings.total_ms]
    first = [t.first_token_ms for t in timed if t.first_token_ms]
    return {
        "questions": len(results),
        "citation_precision": round(sum(r.cited_right for r in results) / cited, 4)
        if cited
        else 0.0,
        "right_cited": _share(r.cited_right > 0 and not r.declined for r in answerable),
        "value_in_answer": _share(r.value_given for r in valued),
        "same_language": _share(r.same_language for r in said),
        "cites_any": _share(r.cited > 0 for r in said),
        "supported": _share(r.answer.unsupported == "" for r in said),
        "declined_unanswerable": _share(r.declined for r in unanswerable),
        "declined_answerable": _share(r.declined for r in answerable),
        "errors": sum(r.answer.status == "error" for r in results),
        "ttft_ms_p50": round(statistics.median(first)) if first else 0,
        "total_ms_p50": round(statistics.median(t.total_ms for t in timed)) if timed else 0,
    }


def _share(flags) -> float:
    flags = list(flags)
    return round(sum(flags) / len(flags), 4) if flags else 0.0


def group_answers(results: Sequence[Answered]) -> dict[str, list[Answered]]:
    """'all', and per question language where a set has both."""
    groups = {"all": list(results)}
    langs = sorted({r.question.lang for r in results})
    if len(langs) > 1:
        for lang in langs:
            groups[f"lang={lang}"] = [r for r in results if r.question.lang == lang]
    return groups


#: answers[set][config][group] -> metric -> value
AnswerFigures = dict[str, dict[str, dict[str, dict[str, float]]]]


def evaluate_answers(
    sets: Sequence[DevSet],
    configs: dict[str, dict[str, object]],
    base: Settings,
    index_dir: Path,
    limit: int | None,
) -> tuple[AnswerFigures, list[dict]]:
    """Every set indexed once with the settings as they are, then each configuration's answers."""
    figures: AnswerFigures = {}
    rows: list[dict] = []
    index_dir.mkdir(parents=True, exist_ok=True)
    if base.embedding_cache is None:
        base = base.updated(embedding_cache=index_dir / "vectors.sqlite")
    for dev in sets:
        settings = base.updated(
            store_uri=str(index_dir / f"{dev.name}-answers.db"), docs_dir=dev.corpus
        )
        build_index(settings, {})
        questions = sample(load_questions(dev.questions), limit)
        retriever = Retriever(settings)
        try:
            for name, overrides in configs.items():
                scored = answer_questions(
                    retriever, settings.updated(**overrides), questions, f"{dev.name}/{name}"
                )
                figures.setdefault(dev.name, {})[name] = {
                    g: summarise_answers(members) for g, members in group_answers(scored).items()
                }
                rows += [answer_row(dev.name, name, r) for r in scored]
        finally:
            retriever.close()
    return figures, rows


def answer_row(dev: str, config: str, r: Answered) -> dict:
    a = r.answer
    return {
        "set": dev, "config": config, "id": r.question.id, "question": r.question.question,
        "answerable": r.question.answerable, "answer": a.answer, "status": a.status,
        "error": a.error, "cited": r.cited, "cited_right": r.cited_right,
        "value_asked": r.value_asked, "value_given": r.value_given,
        "same_language": r.same_language, "unsupported": a.unsupported,
        "weak_match": a.weak_match, "first_token_ms": a.timings.first_token_ms,
        "total_ms": a.timings.total_ms,
        "sources": [{"n": s.n, "doc": s.doc, "heading": s.heading, "cited": s.cited}
                    for s in a.sources],
    }  # fmt: skip


ANSWER_COLUMNS = [
    "citation_precision", "right_cited", "value_in_answer", "same_language", "cites_any",
    "supported", "declined_unanswerable", "declined_answerable", "errors", "ttft_ms_p50",
    "total_ms_p50",
]  # fmt: skip


def answer_table(by_config: dict[str, dict[str, dict[str, float]]]) -> str:
    head = "| config | questions | " + " | ".join(ANSWER_COLUMNS) + " |"
    rule = "|---|---|" + "---|" * len(ANSWER_COLUMNS)
    rows = []
    for name, groups in by_config.items():
        for group, f in groups.items():
            label = name if group == "all" else f"{name} ({group})"
            cells = [
                f"{f[c]:.3f}" if isinstance(f[c], float) else str(f[c]) for c in ANSWER_COLUMNS
            ]
            rows.append(f"| {label} | {int(f['questions'])} | {' | '.join(cells)} |")
    return "\n".join([head, rule, *rows])


ANSWER_NOTE = """Per set, over a spread of its questions (unanswerable ones in their share).
citation_precision: cited passages that are right passages (the hit rule), over all citations.
right_cited: answerable questions answered (not declined) with at least one right passage cited.
value_in_answer: answerable questions whose gold snippet holds a value (a number, a flag, a port, a
version) with that value in the answer. same_language, cites_any, supported: of the answerable
questions answered: in the question's language; citing at least one passage; not marked
unsupported (cites nothing, or gives figures its cited passages lack). declined_unanswerable /
declined_answerable: the cannot-answer reply (higher / lower is better). errors: model calls that
failed. ttft_ms_p50, total_ms_p50: medians, retrieval included. Configurations: rule = the answer
prompt's cannot-answer rule alone; relevance-check = a yes/no call over the top 3 passages before
the answer (RAG_RELEVANCE_CHECK=llm); llm-rerank = the model orders the candidates first
(RAG_RERANK=llm), then the rule."""
