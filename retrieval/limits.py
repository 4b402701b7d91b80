"""One set of limits for every front door (the API, the MCP server, the chat), checked before
any work: a question's length, k's range, strict types, a rate per key, a time budget.

Each front door turns a `LimitError` into its own error shape (OpenAI's on the API, the MCP
SDK's tool error on MCP, a message in the chat); the checks and their wording are the same.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Literal, TypeVar

from retrieval.errors import UserError
from retrieval.settings import Settings

K_MIN, K_MAX = 1, 50
MAX_BASES, MAX_BASE_NAME = 64, 200
Kind = Literal["invalid", "rate", "timeout"]
T = TypeVar("T")


class LimitError(UserError):
    """A request refused before (or instead of) its work; `kind` picks the status code."""

    def __init__(self, message: str, kind: Kind = "invalid"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Limits:
    """The numbers every front door applies (from the one settings object)."""

    max_question_chars: int
    rate_per_minute: int
    budget_s: float

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.max_question_chars, settings.api_rate_per_minute,
                   settings.request_budget_s)  # fmt: skip

    def question(self, text: object, what: str = "question") -> str:
        """A string with some text, no longer than the limit (its length checked first)."""
        if not isinstance(text, str):
            raise LimitError(f"{what} must be a string")
        if len(text) > self.max_question_chars:
            raise LimitError(
                f"{what} is too long: {len(text):,} characters, at most {self.max_question_chars:,}"
            )
        if not text.strip():
            raise LimitError(f"{what} is empty")
        return text


def check_k(k: object) -> int:
    """An integer from K_MIN to K_MAX; "5", 5.0 and true are refused, not converted."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise LimitError(f"k must be an integer from {K_MIN} to {K_MAX}")
    if not K_MIN <= k <= K_MAX:
        raise LimitError(f"k must be from {K_MIN} to {K_MAX}, not {k}")
    return k


def check_knowledge(names: object) -> list[str] | None:
    """None, or a short list of short knowledge-base names."""
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise LimitError("knowledge must be a list of knowledge base names")
    if len(names) > MAX_BASES or any(len(n) > MAX_BASE_NAME for n in names):
        raise LimitError(f"knowledge: at most {MAX_BASES} names of {MAX_BASE_NAME} characters")
    return names


class RateLimit:
    """At most `per_minute` calls per key in any 60 s (thread-safe, in memory, per process)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and now - calls[0] > 60:
                calls.popleft()
            if len(calls) >= self.per_minute:
                return False
            calls.append(now)
            return True

    def check(self, key: str) -> None:
        if not self.allow(key):
            raise LimitError("rate limit reached for this key; try again in a minute", "rate")


def within_budget_stream(events: Iterable[T], budget_s: float) -> Iterator[T]:
    """The events of a streamed answer until the budget runs out, then LimitError('timeout')
    (checked between events; the stream is closed, which closes the model's stream)."""
    ends = time.monotonic() + budget_s
    stream = iter(events)
    try:
        for event in stream:
            yield event
            if time.monotonic() > ends:
                raise _over_budget(budget_s)
    finally:
        if close := getattr(stream, "close", None):
            close()


def _over_budget(budget_s: float) -> LimitError:
    return LimitError(
        f"the request took longer than its budget of {budget_s:g} s; ask something "
        "narrower, or try again later",
        "timeout",
    )


# As many as FastAPI's own pool for sync routes: answers waiting on a model must not hold up
# searches; one past its budget keeps its worker until it ends (its inputs bound how long).
_workers = ThreadPoolExecutor(max_workers=40, thread_name_prefix="budget")


def within_budget(budget_s: float, work: Callable[..., T], *args: object) -> T:
    """`work(*args)`, or LimitError('timeout') once it has run `budget_s`: the caller gets its
    answer in time (the work itself, bounded by the input limits, finishes in the background)."""
    future = _workers.submit(work, *args)
    try:
        return future.result(timeout=budget_s)
    except FutureTimeout:
        future.cancel()
        raise _over_budget(budget_s) from None
