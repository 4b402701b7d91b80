"""Where the docs fall short: refused answers, weak matches and "none of these" thumbs-down
over a period, grouped by meaning (one gap, however it was worded, in English or Chinese),
biggest first. A gap becomes an eval question once an admin names the page that now answers it.

Who sees what is decided here, not by a page: askers' names only for an admin who shows them,
and closest documents only those the viewer may read.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal

import numpy as np

from accounts.chats import ChatStore, Flagged, GapQuestion, source_key
from retrieval.embeddings import BLEND_OFFLINE, E5_OFFLINE, MINILM_OFFLINE, Embedder
from retrieval.tokens import language

Reason = Literal["refused", "weak", "none_of_these"]
REASONS: tuple[Reason, ...] = ("refused", "weak", "none_of_these")
ALL_BASES = "(all)"  # a question searched in every knowledge base its asker may read
DAY_S = 86_400


@dataclass(frozen=True)
class Grouping:
    """How alike two questions must be to count as one gap, for one embedder."""

    threshold: float  # mean cosine between two groups' questions, at least, to merge them
    cross_language: float = 0.0  # added across languages: models score translations lower
    weights: tuple[float, ...] | None = None  # a blend's models, weighted (Embedder.weighted)
    languages: frozenset[str] | None = None  # what the model reads; other questions stay alone


#: Measured on 111 questions in 36 topics, English and Chinese, with hard neighbours ("vacation
#: days" / "sick days"); precision first: two gaps shown as one hide a gap (docs/admin.md).
GROUPINGS: dict[str, Grouping] = {
    MINILM_OFFLINE: Grouping(0.60, languages=frozenset({"en"})),  # English only: 中文 is [UNK]
    E5_OFFLINE: Grouping(0.92, cross_language=0.12),
    BLEND_OFFLINE: Grouping(0.70, cross_language=0.04, weights=(1.0, 0.0, 1.0)),  # e5 + USE
}
DEFAULT_GROUPING = Grouping(0.85)  # other embedders (an endpoint): unmeasured, kept strict


def grouping_for(embedder_name: str, threshold: float | None = None) -> Grouping:
    """The grouping measured for this embedder; `threshold` overrides its threshold."""
    grouping = GROUPINGS.get(embedder_name, DEFAULT_GROUPING)
    return grouping if threshold is None else replace(grouping, threshold=threshold)


@dataclass(frozen=True)
class GapItem:
    """One question the docs fell short on, as the standalone question it was searched as."""

    question: str
    user: str
    created: float
    reasons: tuple[Reason, ...]
    lang: str
    knowledge: tuple[str, ...]  # the knowledge bases searched (empty: all the asker may read)
    closest: tuple[tuple[str, str], ...]  # (doc, heading) of the passages found, best first
    asked: str = ""  # a follow-up as typed ("And how many can I carry over?"); "" if the same


@dataclass(frozen=True)
class Viewer:
    """Who reads the report: names only for an admin who shows them; closest documents only
    those they may read (`readable` None: all)."""

    admin: bool
    readable: frozenset[str] | None
    show_names: bool = True


@dataclass(frozen=True)
class Gap:
    """One group of questions that mean the same, as one viewer may see it."""

    question: str  # the most asked wording (the first asked on a tie)
    questions: tuple[str, ...]  # every wording, most asked first
    count: int  # times asked
    askers: int  # distinct askers
    names: tuple[str, ...]  # the askers' names; empty unless the viewer may see them
    reasons: dict[str, int]  # reason -> times
    knowledge: tuple[str, ...]
    languages: tuple[str, ...]
    closest: dict[str, int]  # "doc › heading" -> questions that found it, most first
    first_seen: float
    last_seen: float
    asked_as: tuple[str, ...] = ()  # follow-ups as typed, before they became the questions


# --- finding and grouping ---------------------------------------------------------------------


def gap_items(store: ChatStore, since: float, until: float) -> list[GapItem]:
    """Every user's questions in [since, until) that the docs fell short on, oldest first."""
    return [item_of(flagged) for flagged in store.gap_candidates(since, until)]


def item_of(flagged: Flagged) -> GapItem:
    """A stored answer as a gap item, under the standalone question it was searched as (a
    follow-up alone says little); a refusal is not also counted as weak."""
    answer = flagged.answer
    asked = wording(flagged.question)
    standalone = wording(answer.query) or asked
    refused = answer.status == "refused"
    said = (refused, answer.weak_match and not refused, flagged.none_of_these)
    found = [(s.doc, s.heading) for s in answer.sources] or list(answer.looked_at)
    closest = tuple(dict.fromkeys(found))
    reasons = tuple(reason for reason, yes in zip(REASONS, said, strict=True) if yes)
    typed = "" if asked == standalone else asked
    return GapItem(standalone, flagged.user, flagged.created, reasons, language(asked),
                   tuple(answer.knowledge), closest, typed)  # fmt: skip


def group(
    items: Sequence[GapItem], embedder: Embedder, grouping: Grouping | None = None
) -> list[list[GapItem]]:
    """Items whose questions mean the same, together; most asked first, then most recent."""
    texts = list(dict.fromkeys(wording(item.question) for item in items))
    if not texts:
        return []
    grouping = grouping or grouping_for(embedder.name)
    clusters = average_link(similarities(texts, embedder, grouping), grouping.threshold)
    where = {text: n for n, members in enumerate(clusters) for text in (texts[i] for i in members)}
    groups: list[list[GapItem]] = [[] for _ in clusters]
    for item in items:
        groups[where[wording(item.question)]].append(item)
    return sorted(groups, key=lambda g: (-len(g), -max(i.created for i in g)))


def wording(question: str) -> str:
    """A question as one line: repeats typed with other spacing are one wording."""
    return " ".join(question.split())


def similarities(texts: list[str], embedder: Embedder, grouping: Grouping) -> np.ndarray:
    """Cosine of every pair of questions, as the grouping reads them."""
    vectors = embedder.embed_queries(texts)
    weighted = embedder.weighted(vectors, grouping.weights) if grouping.weights else vectors
    sims = (weighted @ vectors.T).astype(np.float64)
    langs = np.array([language(text) for text in texts])
    sims += grouping.cross_language * (langs[:, None] != langs[None, :])
    if grouping.languages is not None:
        unread = ~np.isin(langs, sorted(grouping.languages))
        sims[unread, :] = sims[:, unread] = -np.inf
    return sims


def average_link(sims: np.ndarray, threshold: float) -> list[list[int]]:
    """Merge the two groups whose members are most alike on average, while that average is at
    least `threshold` (one odd pair cannot chain two topics together, as single-link would)."""
    total = sims.astype(np.float64)  # summed similarities between two groups' members
    mean = total.copy()
    np.fill_diagonal(mean, -np.inf)
    size, alive = np.ones(len(sims)), np.ones(len(sims), dtype=bool)
    members = [[i] for i in range(len(sims))]
    while mean.size:
        a, b = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if mean[a, b] < threshold:
            break
        total[a, :] += total[b, :]
        total[:, a] = total[a, :]
        size[a] += size[b]
        alive[b] = False
        members[a], members[b] = members[a] + members[b], []
        row = np.where(alive, total[a, :] / (size[a] * size), -np.inf)
        row[a] = -np.inf
        mean[a, :] = mean[:, a] = row
        mean[b, :] = mean[:, b] = -np.inf
    return [group for group in members if group]


# --- what a viewer sees -----------------------------------------------------------------------


def report(groups: Sequence[Sequence[GapItem]], viewer: Viewer) -> list[Gap]:
    """The groups as this viewer may see them."""
    return [gap_of(items, viewer) for items in groups if items]


def find_gaps(
    store: ChatStore,
    embedder: Embedder,
    since: float,
    until: float,
    viewer: Viewer,
    grouping: Grouping | None = None,
) -> list[Gap]:
    """The gap report of a period for one viewer."""
    return report(group(gap_items(store, since, until), embedder, grouping), viewer)


def gap_of(items: Sequence[GapItem], viewer: Viewer) -> Gap:
    wordings = Counter(wording(item.question) for item in items)
    users = list(dict.fromkeys(item.user for item in items))
    return Gap(
        question=wordings.most_common(1)[0][0],
        questions=tuple(text for text, _ in wordings.most_common()),
        count=len(items),
        askers=len(users),
        names=tuple(users) if viewer.admin and viewer.show_names else (),
        reasons=dict(Counter(r for item in items for r in item.reasons).most_common()),
        knowledge=tuple(sorted({kb for item in items for kb in item.knowledge or (ALL_BASES,)})),
        languages=tuple(sorted({item.lang for item in items})),
        closest=closest_documents(items, viewer.readable),
        first_seen=min(item.created for item in items),
        last_seen=max(item.created for item in items),
        asked_as=tuple(dict.fromkeys(item.asked for item in items if item.asked)),
    )


def closest_documents(items: Sequence[GapItem], readable: frozenset[str] | None) -> dict[str, int]:
    """ "doc › heading" -> how many questions found it, most first; only documents the viewer
    may read."""
    found = Counter(
        source_key(doc, heading)
        for item in items
        for doc, heading in item.closest
        if readable is None or doc in readable
    )
    return dict(found.most_common())


# --- the period, the table and the CSV --------------------------------------------------------


def period(
    since: date | None, until: date | None, days: int = 7, now: float | None = None
) -> tuple[float, float]:
    """(start, end) in epoch seconds: from the start of `since` to the end of `until` (local
    days); without `until`, up to now; without `since`, `days` before the end."""
    end = _day_start(until + timedelta(days=1)) if until else (now if now is not None else _now())
    start = _day_start(since) if since else end - days * DAY_S
    if start >= end:
        raise ValueError(f"the period starts ({since}) after it ends ({until}); swap the dates")
    return start, end


def _day_start(day: date) -> float:
    return datetime.combine(day, time()).timestamp()


def _now() -> float:
    return datetime.now().timestamp()


COLUMNS = ("count", "question", "other questions", "asked as", "reasons", "knowledge bases",
           "languages", "closest documents", "askers", "first seen", "last seen")  # fmt: skip


def table_rows(gaps: Sequence[Gap]) -> list[dict[str, str | int]]:
    """One row a gap, every cell plain text (the page's table and the CSV)."""
    return [
        {
            "count": gap.count,
            "question": gap.question,
            "other questions": "\n".join(gap.questions[1:]),
            "asked as": "\n".join(gap.asked_as),
            "reasons": counted(gap.reasons),
            "knowledge bases": "; ".join(gap.knowledge),
            "languages": "; ".join(gap.languages),
            "closest documents": counted(gap.closest),
            "askers": f"{gap.askers}: {', '.join(gap.names)}" if gap.names else str(gap.askers),
            "first seen": when(gap.first_seen),
            "last seen": when(gap.last_seen),
        }
        for gap in gaps
    ]


def counted(counts: dict[str, int]) -> str:
    return "; ".join(f"{name} ×{n}" for name, n in counts.items())


def when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M")


def csv_text(gaps: Sequence[Gap]) -> str:
    """The report as CSV; a cell a spreadsheet would run as a formula starts with a quote."""
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    for row in table_rows(gaps):
        writer.writerow({k: _inert(v) for k, v in row.items()})
    return out.getvalue()


def _inert(value: str | int) -> str | int:
    """Questions are typed by anyone: '=HYPERLINK(...)' must stay text in Excel."""
    return f"'{value}" if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") else value


# --- gaps made eval questions -----------------------------------------------------------------


def keep_eval_question(
    store: ChatStore, admin: str, gap: Gap, doc: str | None, heading: str = ""
) -> GapQuestion:
    """Keep a gap as an eval question: `doc` (and `heading`) now answer it, or None when the
    docs should not answer it."""
    doc, heading = (doc or "").strip() or None, heading.strip() or None
    comment = f"gap report: asked {gap.count} time(s), {counted(gap.reasons)}"
    return store.keep_gap_question(admin, gap.question, doc, heading if doc else None, comment)


def eval_question(kept: GapQuestion) -> dict:
    """In the dev sets' format (accounts.chats.regression_questions writes the same)."""
    return {"id": f"gap-{kept.id}", "question": kept.question, "doc": kept.doc,
            "heading": kept.heading, "answer_snippet": None, "lang": kept.lang,
            "comment": kept.comment}  # fmt: skip


def eval_jsonl(kept: Sequence[GapQuestion]) -> str:
    """The JSON lines `python -m evaluation --qa FILE` reads."""
    return "".join(json.dumps(eval_question(q), ensure_ascii=False) + "\n" for q in kept)
