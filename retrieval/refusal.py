"""Do the passages found answer the query? Read from the retrieval, and never the last word.

Retrieval signals are a weak judge on documents and questions nobody tuned them on, so they
decide little on their own:

- with a model, a question is refused before the model only when nothing at all was found
  (an empty index, or no passage the user may read); the model decides with the prompt's
  cannot-answer rule, and a weak match is passed along for the chat and the API to show;
- without a model, the passages are shown, under a plain "these may not answer it" when the
  match is weak; a flat refusal only when nothing passes a floor set low enough to refuse at
  most 1% of answerable questions on every dev set (README).

The signals are computed by `signals` (pure, tested); `judge` combines them with the
thresholds in settings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jieba

from prompts.templates import RELEVANCE_SYSTEM_PROMPT, USER_TEMPLATE, fence
from retrieval.llm import ChatClient, LLMError, Message
from retrieval.search import Retrieval
from retrieval.settings import Settings
from retrieval.store.schema import STOP_WORDS
from retrieval.tokens import language

log = logging.getLogger(__name__)
MIN_CANDIDATES = 20  # the z-score of the best of n is at most sqrt(n - 1)
STOP = frozenset(STOP_WORDS)


@dataclass(frozen=True)
class Signals:
    """What a retrieval says about whether the docs answer the query."""

    top: float  # best dense score among the final hits (a cosine, or a blend's weighted mean)
    gap: float  # best dense score minus the fifth best among dense candidates
    standout: float  # how far the top hit stands out among the dense candidates (z-score)
    strength: float  # how far the top hit stands out in the fused ranking (dense and BM25)
    agree: bool  # the final top hit is also among BM25's top candidates
    rerank: float | None  # the reranker's best score, when one ran


@dataclass(frozen=True)
class Verdict:
    """What to do with a retrieval: refuse it flatly, or go on and say whether it is weak."""

    refuse: bool  # say the cannot-answer sentence without showing or sending any passage
    weak: bool  # go on, but say the passages may not answer it


def signals(found: Retrieval, agree_depth: int = 5) -> Signals:
    hits = found.hits
    top = max((h.score for h in hits), default=float("-inf"))
    dense = [h.score for h in found.dense]
    gap = dense[0] - dense[min(4, len(dense) - 1)] if dense else 0.0
    lexical = {h.chunk_id for h in found.lexical[:agree_depth]}
    agree = bool(hits) and hits[0].chunk_id in lexical
    scores = [h.rerank_score for h in hits if h.rerank_score is not None]
    strength = hits[0].standing if hits else float("-inf")
    return Signals(top, gap, found.standout, strength, agree, max(scores) if scores else None)


def is_weak(found: Retrieval, settings: Settings) -> bool:
    """The passages are unlikely to answer the query: the reranker's best score is low, or the
    top passage stands out too little in the fused ranking (`weak_below`) or among the dense
    candidates alone (`weak_standout`)."""
    if not found.hits:
        return True
    s = signals(found)
    if s.rerank is not None:
        return s.rerank < settings.rerank_min_score
    if len(found.dense) < MIN_CANDIDATES:
        return False  # too few passages for "stands out" to mean anything (a tiny index)
    weak = s.strength < settings.weak_below or s.standout < settings.weak_standout
    return weak or one_common_word(found, s, settings) or bool(unknown_names(found, settings))


def words(text: str) -> frozenset[str]:
    """The words BM25 matches on, near enough: jieba's segments (as the index's analyzer cuts
    Chinese), lower-cased, without stop words and punctuation."""
    cut = (word.strip() for word in jieba.lcut(text.lower()))
    return frozenset(w for w in cut if w and w not in STOP and any(c.isalnum() for c in w))


def one_common_word(found: Retrieval, s: Signals, settings: Settings) -> bool:
    """The top passage's BM25 agreement rests on one word of the question, a word most of
    BM25's candidates share, while it stands out only ordinarily among the dense candidates
    (z below `common_word_standout`, and within `common_word_gap` of the fifth): one common
    word carries it ("Can I bring my dog to the office?" -> "Out of office"). Only within one
    language: across languages one shared name is all BM25 can agree on."""
    if not (s.agree and settings.common_word_share > 0 and found.lexical):
        return False
    if s.standout >= settings.common_word_standout or s.gap >= settings.common_word_gap:
        return False
    top = found.hits[0]
    if (top.lang or language(top.text)) != language(found.query):
        return False
    asked = words(found.query)
    shared = asked & words(top.embed_text)
    if len(asked) < 2 or len(shared) != 1:
        return False
    (word,) = shared
    share = sum(word in words(h.embed_text) for h in found.lexical) / len(found.lexical)
    return share >= settings.common_word_share


#: A Latin-script word as a question names a thing: LDAP, GraphQL, SM4, W-9, Consul.
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")
CJK = re.compile(r"[\u3400-\u9fff]")


def names(question: str) -> list[str]:
    """The words a question writes as names: a capital past the first letter (LDAP, GraphQL,
    IdP), a capital beside a digit (W-9), or a capitalised word that does not open a sentence
    (Consul, Kerberos; in a Chinese question any capitalised word). None in a question typed in
    capitals, where case says nothing."""
    if len(LATIN_WORD.findall(question)) >= 3 and not re.search("[a-z]", question):
        return []
    found = []
    for m in LATIN_WORD.finditer(question):
        word = m.group(0)
        if len(word) < 2 or word.lower() in STOP:
            continue
        opens = CJK.search(question) is None and re.search(r"(^|[.?!:]\s*)$", question[: m.start()])
        if any(c.isupper() for c in word[1:]) or (
            word[0].isupper() and (not opens or any(c.isdigit() for c in word))
        ):
            found.append(word)
    return found


def unknown_names(found: Retrieval, settings: Settings) -> list[str]:
    """The names in the query that no candidate passage mentions, BM25's or the dense search's
    (in its document name, heading or text). BM25 ranks any passage holding a rare name near
    its top, so a name none of them holds is one the docs hardly use: what matched is a
    neighbouring topic ("sync roles from LDAP groups" finding the roles page of docs that never
    mention LDAP). A name is matched as a whole word, its plural too (URLs -> URL)."""
    if not settings.unknown_name_weak:
        return []
    asked = names(found.query)
    if not asked:
        return []
    seen = "\n".join(f"{h.doc}\n{h.embed_text}" for h in [*found.lexical, *found.dense]).lower()
    return [name for name in asked if not _mentioned(name.lower(), seen)]


def _mentioned(name: str, text: str) -> bool:
    forms = [name, name[:-1]] if name.endswith("s") and len(name) > 2 else [name]
    return any(re.search(rf"(?<![a-z0-9]){re.escape(form)}s?(?![a-z0-9])", text) for form in forms)


def below_floor(found: Retrieval, settings: Settings) -> bool:
    """Nothing found is worth showing: no passage, or the best stands out less than
    `refuse_below` in the fused ranking and BM25 does not confirm it (the floor of the
    no-model refusal)."""
    if not found.hits:
        return True
    s = signals(found)
    if s.rerank is not None or len(found.dense) < MIN_CANDIDATES:
        return False
    return s.strength < settings.refuse_below and not s.agree


def judge(found: Retrieval, settings: Settings, with_model: bool) -> Verdict:
    """Refuse only what nothing supports: with a model, an empty retrieval; without one, a
    retrieval below the floor. Everything else goes on, marked weak when it looks so."""
    refuse = not found.hits if with_model else below_floor(found, settings)
    return Verdict(refuse, refuse or is_weak(found, settings))


NO = re.compile(r"^\W*(no\b|否|没有|不)", re.IGNORECASE)


def passages_answer(question: str, texts: Sequence[str], chat: ChatClient) -> bool:
    """The relevance check: one short call asking the model whether any passage holds the
    answer. Only a clear "no" declines; a failed call, or any other reply, lets it through."""
    context = "\n\n".join(
        f'<passage n="{n}">\n{fence(text[:1500])}\n</passage>' for n, text in enumerate(texts, 1)
    )
    prompt = USER_TEMPLATE.format(context=context, question=fence(question))
    try:
        reply = chat.complete(
            [Message("system", RELEVANCE_SYSTEM_PROMPT), Message("user", prompt)], 3
        )
    except LLMError as exc:
        log.warning("the relevance check failed (%s); the model answers", exc)
        return True
    return not NO.match(reply.strip())
