"""A second look at the candidates: rerankers behind one interface, chosen by ``RAG_RERANK``.

- ``none``: keep the fused order;
- ``http``: a cross-encoder behind an HTTP endpoint, in either of the two shapes servers speak:
  text-embeddings-inference's ``POST /rerank {query, texts}`` -> ``[{index, score}]``, or the
  Cohere/Jina shape that vLLM, Infinity and others serve, ``POST /v1/rerank {model, query,
  documents}`` -> ``{results: [{index, relevance_score}]}``;
- ``llm``: the configured chat model, in one call with bounded passages and a short reply.

A reranker returns the candidates reordered with `rerank_score` set, or None when it could not
run (the caller keeps the fused order; a warning is logged once per failure).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

import httpx

from prompts.templates import RERANK_SYSTEM_PROMPT, fence
from retrieval.settings import Settings
from retrieval.types import Hit

log = logging.getLogger(__name__)
PASSAGE_CHARS = 600  # what the LLM reranker sees of each candidate
REPLY_TOKENS = 60


class Reranker(ABC):
    """Candidates -> the same candidates, best first, with `rerank_score` set."""

    name = "none"

    @abstractmethod
    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit] | None:
        """Reordered hits, or None to keep the given order."""


class NoReranker(Reranker):
    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit] | None:
        return None


def ordered(hits: Sequence[Hit], scores: Sequence[float]) -> list[Hit]:
    """Hits sorted by score (best first; ties keep the incoming order), scores attached."""
    order = sorted(range(len(hits)), key=lambda i: -scores[i])
    return [replace(hits[i], rerank_score=float(scores[i])) for i in order]


class HttpReranker(Reranker):
    """A cross-encoder served over HTTP (text-embeddings-inference, vLLM, Infinity, Jina)."""

    def __init__(self, url: str, model: str, api: str, api_key: str = "", timeout_s: float = 30):
        self.url, self.model, self.api = url, model, api
        self.name = f"http:{model or url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit] | None:
        if not hits:
            return []
        texts = [h.embed_text for h in hits]
        if self.api == "tei":
            body: dict[str, object] = {"query": query, "texts": texts, "raw_scores": False}
        else:
            body = {"model": self.model, "query": query, "documents": texts, "top_n": len(texts)}
        try:
            reply = self._client.post(self.url, json=body)
            reply.raise_for_status()
            scores = self._scores(reply.json(), len(texts))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("reranker %s failed (%s); keeping the search order", self.url, exc)
            return None
        return ordered(hits, scores)

    @staticmethod
    def _scores(payload: object, count: int) -> list[float]:
        """Scores in input order from either response shape."""
        rows = payload["results"] if isinstance(payload, dict) else payload
        scores = [float("-inf")] * count
        for row in rows:
            value = row["relevance_score"] if "relevance_score" in row else row["score"]
            scores[int(row["index"])] = float(value)
        return scores


class LLMReranker(Reranker):
    """The chat model picks and orders the helpful passages in one short call."""

    def __init__(self, chat, template: str):
        self.chat, self.template = chat, template
        self.name = f"llm:{chat.name}"

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit] | None:
        from retrieval.llm import LLMError, Message

        if not hits:
            return []
        passages = "\n\n".join(
            f'<passage n="{i}">\n{fence(h.embed_text[:PASSAGE_CHARS])}\n</passage>'
            for i, h in enumerate(hits, 1)
        )
        prompt = self.template.format(passages=passages, question=fence(query))
        try:
            reply = self.chat.complete(
                [Message("system", RERANK_SYSTEM_PROMPT), Message("user", prompt)], REPLY_TOKENS
            )
        except LLMError as exc:
            log.warning("LLM reranking failed (%s); keeping the search order", exc)
            return None
        return ordered(hits, picked_scores(reply, len(hits)))


def picked_scores(reply: str, count: int) -> list[float]:
    """Scores from a reply listing passage numbers best first: n listed -> 1, (n-1)/n, ...;
    unlisted -> 0. A reply of 0 (none helps) scores everything 0."""
    picked = []
    for token in re.findall(r"\d+", reply):
        number = int(token)
        if 1 <= number <= count and number not in picked:
            picked.append(number)
    scores = [0.0] * count
    for place, number in enumerate(picked):
        scores[number - 1] = 1.0 - place / (len(picked) + 1)
    return scores


def load_reranker(settings: Settings) -> Reranker:
    """The reranker the settings ask for."""
    if settings.rerank == "http":
        if not settings.rerank_url:
            raise ValueError(
                "RAG_RERANK=http needs RAG_RERANK_URL (e.g. http://localhost:8080/rerank)"
            )
        key = settings.rerank_api_key.get_secret_value() if settings.rerank_api_key else ""
        return HttpReranker(
            settings.rerank_url,
            settings.rerank_model,
            settings.rerank_api,
            key,
            settings.llm_timeout_s,
        )
    if settings.rerank == "llm":
        from retrieval.llm import open_chat

        chat = open_chat(settings)
        if chat is None:
            raise ValueError("RAG_RERANK=llm needs a chat model (RAG_LLM)")
        return LLMReranker(chat, settings.rerank_template)
    return NoReranker()
