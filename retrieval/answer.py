"""Question (+ history) -> standalone query -> top-k search -> prompt -> streamed answer.

`answer_question` yields `Delta`s while the model streams and ends with exactly one `Answer`.
No Streamlit here: the app and the command line both consume this generator.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from prompts.templates import (
    REWRITE_SYSTEM_PROMPT,
    cannot_answer,
    checked_none,
    fence,
    may_hold_it,
    no_model_notice,
    says_cannot_answer,
    unsupported_notice,
    weak_match_notice,
)
from retrieval.access import Access
from retrieval.context import widened
from retrieval.llm import ChatClient, ContextTooLongError, Delta, LLMError, Message, Usage
from retrieval.refusal import is_weak, judge, passages_answer
from retrieval.search import Retriever
from retrieval.settings import Settings
from retrieval.support import support
from retrieval.tokens import estimate_tokens, language
from retrieval.types import Hit

CITATION = re.compile(r"\[(\d{1,3})\]")
FOLLOW_UP = re.compile(
    r"^(and|or|but|also|what about|how about|and what|same for|what if|then|so)\b"
    r"|\b(it|its|that|this|those|these|they|them|there)\b",
    re.IGNORECASE,
)
CJK_FOLLOW_UP = re.compile(r"^(那|还有|那么|它|这个|那个)")


@dataclass(frozen=True)
class Turn:
    """One past exchange: the question and the answer text shown (never the reasoning)."""

    question: str
    answer: str


@dataclass(frozen=True)
class Source:
    """A passage given to the model, numbered as the answer cites it."""

    n: int
    doc: str
    heading: str
    relevance: float  # 0..1 in rank order (see retrieval.search.relevance)
    text: str
    cited: bool = False
    pages: str = ""  # where in a PDF the passage is ('3' or '3-4')
    knowledge: str = ""  # the knowledge base it is in

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "doc": self.doc, "heading": self.heading,
                "relevance": round(self.relevance, 4)}  # fmt: skip


@dataclass(frozen=True)
class Found:
    """The passages an answer is about to be written from (yielded before the model streams,
    so a page can keep them with a partial answer the user stops)."""

    sources: list[Source]
    query: str


Status = Literal["answered", "refused", "retrieval_only", "error", "stopped"]


@dataclass(frozen=True)
class Timings:
    """Where an answer's time went, in milliseconds (0: that step did not happen)."""

    retrieval_ms: float = 0.0
    first_token_ms: float = 0.0
    total_ms: float = 0.0


@dataclass(frozen=True)
class Answer:
    """The final result of one question."""

    answer: str
    reasoning: str = ""
    sources: list[Source] = field(default_factory=list)
    model: str = ""
    query: str = ""
    status: Status = "answered"
    notices: list[str] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    error: str = ""
    timings: Timings = field(default_factory=Timings)
    weak_match: bool = False  # the passages found may not answer the question
    usage: Usage = field(default_factory=Usage)  # the answering call's tokens (none: no model)
    #: a written answer that cites nothing ("uncited"), is citation numbers alone
    #: ("wordless"), or gives figures or names its cited passages lack ("unverified"); ""
    #: when supported or not a written answer
    unsupported: str = ""
    #: the knowledge bases the question was searched in (empty: all the asker may read)
    knowledge: tuple[str, ...] = ()
    #: a refusal's closest passages, (doc, heading) best first: not shown as sources, kept
    #: for the admin's doc-gap report
    looked_at: tuple[tuple[str, str], ...] = ()
    #: when the bases searched matched only weakly: another base the asker may read whose best
    #: passage matches strongly ("" if none); the chat offers to search there
    elsewhere: str = ""

    @property
    def cannot_answer(self) -> bool:
        """The docs do not answer it (decided before the model, or said by the model)."""
        return self.status == "refused"

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "answer": self.answer,
            "reasoning": self.reasoning,
            "sources": [s.as_dict() for s in self.sources],
            "model": self.model,
            "weak_match": self.weak_match,
            "unsupported": self.unsupported,
            "elsewhere": self.elsewhere,
        }

    def to_record(self) -> dict:
        """Everything, for storing the answer as it was shown."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Answer:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        values["sources"] = [Source(**s) for s in values.get("sources", [])]
        values["timings"] = Timings(**values.get("timings", {}))
        values["usage"] = Usage(**values.get("usage", {}))
        values["knowledge"] = tuple(values.get("knowledge", ()))
        values["looked_at"] = tuple(tuple(pair) for pair in values.get("looked_at", ()))
        return cls(**values)

    def stopped(self) -> Answer:
        """This answer as far as it got when the user pressed stop."""
        return replace(self, status="stopped", notices=[*self.notices, "Stopped."])


def clean_question(text: str) -> str:
    """Drop control characters (keeping newlines and tabs) and surrounding space."""
    kept = (c for c in text if c in "\n\t" or unicodedata.category(c)[0] != "C")
    return "".join(kept).strip()


def rule_rewrite(question: str, history: Sequence[Turn]) -> str:
    """Without a model: a short or referring follow-up is searched with the last question."""
    if not history:
        return question
    short = len(question.split()) <= 4 and not re.search(r"[\u4e00-\u9fff]{6,}", question)
    if short or FOLLOW_UP.search(question) or CJK_FOLLOW_UP.search(question):
        return f"{history[-1].question} {question}"
    return question


def standalone_query(
    question: str, history: Sequence[Turn], chat: ChatClient | None, settings: Settings
) -> str:
    """The search query for a question in context: rewritten by the model, else by rule."""
    if not history or not settings.rewrite_followups:
        return question
    if chat is None:
        return rule_rewrite(question, history)
    lines = [f"User: {t.question}\nAssistant: {t.answer[:600]}" for t in history[-3:]]
    prompt = settings.rewrite_template.format(history=fence("\n".join(lines)), question=question)
    try:
        rewritten = chat.complete(
            [Message("system", REWRITE_SYSTEM_PROMPT), Message("user", prompt)]
        )
    except LLMError:
        return rule_rewrite(question, history)
    first_line = rewritten.strip().splitlines()[0] if rewritten.strip() else ""
    return first_line[:500] or rule_rewrite(question, history)


def number_sources(hits: Sequence[Hit]) -> list[Source]:
    return [
        Source(i, h.doc, h.heading, h.relevance, h.text, pages=h.pages, knowledge=h.kb)
        for i, h in enumerate(hits, 1)
    ]


def build_messages(
    question: str, sources: Sequence[Source], history: Sequence[Turn], settings: Settings
) -> list[Message]:
    """System rules, past turns (answers only), then fenced passages and the question."""
    passages = [
        settings.passage_template.format(
            n=s.n, doc=_attr(s.doc), heading=_attr(s.heading), text=fence(s.text)
        )
        for s in sources
    ]
    user = settings.user_template.format(context="\n\n".join(passages), question=fence(question))
    rule = settings.system_prompt.format(cannot_answer=cannot_answer(language(question)))
    messages = [Message("system", rule)]
    for turn in history[-4:]:
        messages += [Message("user", turn.question), Message("assistant", turn.answer)]
    return messages + [Message("user", user)]


def _attr(value: str) -> str:
    return fence(value).replace('"', "&quot;").replace("\n", " ")


def context_for(
    question: str,
    hits: Sequence[Hit],
    retriever: Retriever,
    *,
    access: Access,
    history: Sequence[Turn] = (),
) -> list[Source]:
    """The numbered passages the model is given for these hits, within the prompt budget."""
    sources = number_sources(context_hits(hits, retriever, access=access))
    return fit_to_budget(question, sources, history, retriever.settings)


def context_hits(hits: Sequence[Hit], retriever: Retriever, *, access: Access) -> list[Hit]:
    """The hits as the model reads them: with `context_widen`, each with its section's
    neighbouring passages (small-to-big) within the budget of today's top-k passages."""
    settings = retriever.settings
    if not settings.context_widen:
        return list(hits)
    return widened(hits, retriever.store, Path(settings.docs_dir), settings, access=access)


def fit_to_budget(
    question: str, sources: list[Source], history: Sequence[Turn], settings: Settings
) -> list[Source]:
    """Drop the lowest-ranked passages until the prompt fits the token budget."""
    kept = list(sources)
    while len(kept) > 1 and _prompt_tokens(question, kept, history, settings) > (
        settings.llm_context_tokens
    ):
        kept.pop()
    return kept


def _prompt_tokens(q: str, sources: list[Source], history: Sequence[Turn], s: Settings) -> int:
    return sum(estimate_tokens(m.content) for m in build_messages(q, sources, history, s))


def check_citations(text: str, sources: Sequence[Source]) -> tuple[str, list[Source], list[int]]:
    """Mark cited sources; flag citations that point to no passage as `[n?]`."""
    numbers = {int(n) for n in CITATION.findall(text)}
    valid = {s.n for s in sources}
    invalid = sorted(numbers - valid)
    flagged = CITATION.sub(
        lambda m: m.group(0) if int(m.group(1)) in valid else f"[{m.group(1)}?]", text
    )
    marked = [replace(s, cited=s.n in numbers) for s in sources]
    return flagged, marked, invalid


def retrieval_only(hits: Sequence[Hit], query: str, lang: str = "en", weak: bool = False) -> Answer:
    """The answer when no model is configured: the top passages, with their sources (a page
    shows each source as a block; this text is for terminals and API clients); a weak match
    says first, in the question's language, that they may not answer it."""
    sources = number_sources(hits)
    notices = ([weak_match_notice(lang, answered=False)] if weak else []) + [no_model_notice(lang)]
    lines = [*notices, ""]
    for s in sources:
        snippet = " ".join(s.text.split())[:300]
        lines.append(f"[{s.n}] **{s.doc}** › {s.heading or '(top)'}: {snippet}")
    return Answer(
        "\n".join(lines),
        sources=sources,
        query=query,
        notices=notices,
        status="retrieval_only",
        weak_match=weak,
    )


def answer_question(
    question: str,
    history: Sequence[Turn],
    retriever: Retriever,
    chat: ChatClient | None,
    settings: Settings,
    k: int | None = None,
    *,
    access: Access,
) -> Iterator[Found | Delta | Answer]:
    """Stream the answer to a question: `Found` once the passages are chosen (when a model
    will write the answer), its `Delta`s, and always last one `Answer`."""
    started = time.perf_counter()
    question = clean_question(question)
    if refusal := _refuse(question, settings):
        yield Answer("", status="error", error=refusal)
        return
    model, lang = (chat.name if chat else ""), language(question)
    query = standalone_query(question, history, chat, settings)
    found = retriever.retrieve(query, k or settings.top_k, access=access)
    clock = Clock(started, retrieved=time.perf_counter(), knowledge=searched_in(access))
    verdict = judge(found, settings, with_model=chat is not None)
    if verdict.weak:
        clock.elsewhere = strong_elsewhere(retriever, query, k or settings.top_k, access, settings)
    if verdict.refuse:
        closest = tuple((h.doc, h.heading) for h in found.hits)
        refused = Answer(cannot_answer(lang), model=model, query=query, status="refused",
                         weak_match=True, looked_at=closest)  # fmt: skip
        yield clock.stamp(refused)
        return
    if chat is None:
        yield clock.stamp(retrieval_only(found.hits, query, lang, verdict.weak))
        return
    sources = number_sources(context_hits(found.hits, retriever, access=access))
    if declined := _relevance_declined(question, sources, chat, settings, query):
        yield clock.stamp(declined)
        return
    yield Found(sources, query)
    for event in _generate(question, history, sources, chat, settings, query):
        if isinstance(event, Answer):
            yield clock.stamp(_marked_weak(event, verdict.weak, lang))
        else:
            yield clock.saw(event)


def _relevance_declined(
    question: str, sources: list[Source], chat: ChatClient, settings: Settings, query: str
) -> Answer | None:
    """With the relevance check on: the cannot-answer reply when the model finds no top
    passage that answers the question (the passages stay in the sources)."""
    if settings.relevance_check != "llm":
        return None
    if passages_answer(question, [s.text for s in sources[: settings.relevance_passages]], chat):
        return None
    lang = language(question)
    return Answer(cannot_answer(lang), sources=sources, model=chat.name, query=query,
                  status="refused", weak_match=True, notices=[checked_none(lang)])  # fmt: skip


def _marked_weak(answer: Answer, weak: bool, lang: str) -> Answer:
    """A model's answer from weakly matching passages: flagged, with a notice beside the
    sources (not when the model itself said it cannot answer). A decline over a strong match
    points at the top passage instead: the model may have missed what it holds."""
    if answer.status == "refused" and not weak and answer.sources:
        notice = may_hold_it(lang, answer.sources[0].n)
        return replace(answer, weak_match=False, notices=[*answer.notices, notice])
    if not weak or answer.status != "answered":
        return replace(answer, weak_match=weak)
    notice = weak_match_notice(lang, answered=True)
    return replace(answer, weak_match=True, notices=[*answer.notices, notice])


@dataclass
class Clock:
    """Times one answer (retrieval, first streamed token, total) and says where it looked."""

    started: float
    retrieved: float
    first: float = 0.0
    knowledge: tuple[str, ...] = ()
    elsewhere: str = ""

    def saw(self, delta: Delta) -> Delta:
        self.first = self.first or time.perf_counter()
        return delta

    def stamp(self, answer: Answer) -> Answer:
        ms = lambda t: round((t - self.started) * 1000, 1) if t else 0.0  # noqa: E731
        timings = Timings(ms(self.retrieved), ms(self.first), ms(time.perf_counter()))
        return replace(answer, timings=timings, knowledge=self.knowledge, elsewhere=self.elsewhere)


def strong_elsewhere(
    retriever: Retriever, query: str, k: int, access: Access, settings: Settings
) -> str:
    """When the bases picked match only weakly: the base, among all the reader may read,
    whose best passage matches the query strongly ("" if none, or if nothing was picked)."""
    if not access.knowledge:
        return ""
    wider = retriever.retrieve(query, k, access=access.reader)
    if not wider.hits or wider.hits[0].kb in access.knowledge or is_weak(wider, settings):
        return ""
    return wider.hits[0].kb


def searched_in(access: Access) -> tuple[str, ...]:
    """The knowledge bases a search was pointed at (empty: all the reader may read)."""
    return tuple(sorted(access.knowledge or ()))


def _refuse(question: str, settings: Settings) -> str:
    if not question:
        return "Please type a question."
    if len(question) > settings.max_question_chars:
        return (
            f"That question is too long ({len(question):,} characters; the limit is "
            f"{settings.max_question_chars:,}). Please shorten it."
        )
    return ""


def _generate(
    question: str,
    history: Sequence[Turn],
    sources: list[Source],
    chat: ChatClient,
    settings: Settings,
    query: str,
) -> Iterator[Delta | Answer]:
    notices: list[str] = []
    kept = fit_to_budget(question, sources, history, settings)
    answer, reasoning, reported = [], [], []
    while True:
        messages = build_messages(question, kept, history, settings)
        try:
            for delta in chat.stream(messages, usage=reported):
                (answer if delta.kind == "answer" else reasoning).append(delta.text)
                yield delta
            break
        except ContextTooLongError:
            if len(kept) <= 1 or answer or reasoning:
                yield _failed(f"the question and passages do not fit {chat.name}'s context", chat)
                return
            kept = kept[: max(1, len(kept) // 2)]
        except LLMError as exc:
            yield _failed(str(exc), chat, "".join(answer), "".join(reasoning), kept)
            return
    if len(kept) < len(sources):
        notices.append(
            f"{len(sources) - len(kept)} lower-ranked passage(s) were left out to fit the "
            "model's context window."
        )
    usage = reported[-1] if reported else estimated_usage(messages, answer + reasoning)
    yield _written(question, "".join(answer), "".join(reasoning), kept, chat, query, notices, usage)


def _written(
    question: str,
    raw: str,
    reasoning: str,
    kept: list[Source],
    chat: ChatClient,
    query: str,
    notices: list[str],
    usage: Usage,
) -> Answer:
    """The model's whole answer, checked: whether it declined, its citations, and whether what
    it cites supports it."""
    if says_cannot_answer(raw):
        return _declined(question, reasoning, kept, chat, query, notices, usage)
    text, marked, invalid = check_citations(raw.strip(), kept)
    if invalid:
        notices.append(f"The answer cites {invalid}, which match no passage; treat them with care.")
    if not text:
        notices.append("The model returned no answer text.")
    unsupported = ""
    if text:
        verdict, missing = support(text, [s.text for s in marked if s.cited])
        if verdict != "supported":
            unsupported = verdict
            notices.append(unsupported_notice(verdict, language(question), missing))
    return Answer(
        text,
        reasoning.strip(),
        marked,
        chat.name,
        query,
        status="answered",
        notices=notices,
        invalid_citations=invalid,
        unsupported=unsupported,
        usage=usage,
    )


def _declined(
    question: str,
    reasoning: str,
    kept: list[Source],
    chat: ChatClient,
    query: str,
    notices: list[str],
    usage: Usage,
) -> Answer:
    """One status for a decline: the cannot-answer sentence alone, in the question's language,
    with the passages below it and none cited. Whatever else the model wrote beside the
    sentence is dropped: it is neither an answer the passages support nor the decline."""
    return Answer(
        cannot_answer(language(question)),
        reasoning.strip(),
        list(kept),
        chat.name,
        query,
        status="refused",
        notices=notices,
        usage=usage,
    )


def estimated_usage(messages: Sequence[Message], output: Sequence[str]) -> Usage:
    """What a call took by our estimate, for servers that report no usage."""
    prompt = sum(estimate_tokens(m.content) for m in messages)
    return Usage(prompt, estimate_tokens("".join(output)), estimated=True)


def _failed(
    message: str,
    chat: ChatClient,
    partial: str = "",
    reasoning: str = "",
    sources: Sequence[Source] = (),
) -> Answer:
    """A failed model call: the error, and whatever part of the answer had arrived."""
    text = f"{partial.strip()}\n\n(The answer was cut off.)" if partial.strip() else ""
    return Answer(text, reasoning, list(sources), chat.name, status="error", error=message)
