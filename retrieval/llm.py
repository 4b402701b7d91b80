"""One OpenAI-compatible chat client that yields typed deltas: reasoning apart from the answer.

Reasoning arrives in one of several shapes, all normalised here:
- a `reasoning_content` field (DeepSeek's reasoner, older vLLM reasoning parsers),
- a `reasoning` field (newer vLLM, Ollama's OpenAI endpoint),
- inline `<think>...</think>` in the content (R1 distills), where the opening tag is often
  missing because the chat template pre-fills it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
import openai

from retrieval.errors import UserError
from retrieval.settings import ModelEntry, Settings

OPEN, CLOSE = "<think>", "</think>"
R1_NAMES = re.compile(r"(?<![a-z])r1|qwq|think", re.IGNORECASE)


class LLMError(UserError):
    """A model call failed in a way the user can act on; the message says how."""


class ContextTooLongError(LLMError):
    """The prompt does not fit the model's context window."""


@dataclass(frozen=True)
class Delta:
    """A piece of streamed output: part of the reasoning or part of the answer."""

    kind: Literal["reasoning", "answer"]
    text: str


@dataclass(frozen=True)
class Usage:
    """Tokens one model call took: as the server reported them, or estimated when it sent
    nothing (`estimated`)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


class ThinkSplitter:
    """Splits streamed text with inline <think> tags into reasoning and answer deltas.

    With `expect_reasoning` (R1-style models), text is reasoning until `</think>`, whether or not
    the opening tag was sent. Otherwise text is answer unless it opens with `<think>`. Tags split
    across chunks are held back until they can be recognised.
    """

    def __init__(self, expect_reasoning: bool):
        self.expect = expect_reasoning
        self.state = "start"  # start -> think -> answer
        self.buffer = ""

    def feed(self, text: str) -> list[Delta]:
        self.buffer += text
        out: list[Delta] = []
        step = {"start": self._start, "think": self._think, "answer": self._answer}
        while step[self.state](out):
            pass
        return out

    def _start(self, out: list[Delta]) -> bool:
        """Decide whether the stream opens with reasoning; False: wait for more text."""
        head = self.buffer.lstrip()
        if head.startswith(OPEN):
            self.buffer, self.state = head[len(OPEN) :], "think"
            return True
        if not head or OPEN.startswith(head):
            return False  # might still become "<think>": wait for more
        self.state = "think" if self.expect else "answer"
        return True

    def _think(self, out: list[Delta]) -> bool:
        end = self.buffer.find(CLOSE)
        if end == -1:
            keep = _partial_suffix(self.buffer, CLOSE)
            if self.buffer[: len(self.buffer) - keep]:
                out.append(Delta("reasoning", self.buffer[: len(self.buffer) - keep]))
            self.buffer = self.buffer[len(self.buffer) - keep :]
            return False
        if self.buffer[:end].rstrip():
            out.append(Delta("reasoning", self.buffer[:end].rstrip()))
        self.buffer, self.state = self.buffer[end + len(CLOSE) :].lstrip("\n"), "answer"
        return True

    def _answer(self, out: list[Delta]) -> bool:
        if self.buffer:
            out.append(Delta("answer", self.buffer))
        self.buffer = ""
        return False

    def finish(self) -> list[Delta]:
        """Flush what is held back at the end of the stream."""
        rest, self.buffer = self.buffer, ""
        if self.state == "start" and rest.strip():
            return [Delta("answer", rest)]
        if self.state == "think" and rest:
            return [Delta("reasoning", rest)]
        return [Delta("answer", rest)] if rest else []


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of text that is a prefix of tag (a tag split across chunks)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def open_chat(settings: Settings, name: str | None = None) -> ChatClient | None:
    """The configured chat model (or the named one), or None in retrieval-only mode."""
    entry = settings.model_entry(name)
    return ChatClient(settings, entry) if entry else None


def expects_inline_reasoning(entry: ModelEntry) -> bool:
    if entry.reasoning == "inline":
        return True
    return (
        entry.reasoning == "auto"
        and bool(R1_NAMES.search(entry.model))
        and not (entry.model.startswith("deepseek-reasoner"))
    )


class ChatClient:
    """Streams chat completions from one OpenAI-compatible endpoint as typed deltas."""

    def __init__(self, settings: Settings, entry: ModelEntry):
        self.entry = entry
        self.settings = settings
        self._client = openai.OpenAI(
            base_url=entry.base_url,
            api_key=_api_key(settings, entry),
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )

    @property
    def name(self) -> str:
        return self.entry.model

    def stream(
        self,
        messages: Sequence[Message],
        max_tokens: int | None = None,
        usage: list[Usage] | None = None,
    ) -> Iterator[Delta]:
        """Yield reasoning and answer deltas; raise LLMError with a user-facing message. The
        token usage the server reports at the end of the stream is appended to `usage`."""
        limit = {"max_tokens": max_tokens} if max_tokens else {}
        with _api_errors(self.entry):
            response = self._client.chat.completions.create(
                model=self.entry.model,
                messages=[m.__dict__ for m in messages],
                stream=True,
                stream_options={"include_usage": True},
                temperature=self.settings.llm_temperature,
                **limit,
            )
        try:
            yield from self._deltas(response, usage if usage is not None else [])
        except (openai.APIConnectionError, httpx.TransportError, OSError):
            raise LLMError(
                f"the connection to {self.entry.base_url} dropped while the answer was streaming; "
                "try again"
            ) from None
        except openai.OpenAIError as exc:
            raise _message_for(exc, self.entry) from None

    def _deltas(self, response, usage: list[Usage]) -> Iterator[Delta]:
        inline = expects_inline_reasoning(self.entry)
        splitter = None
        for chunk in response:
            if chunk.usage and chunk.usage.completion_tokens:
                usage.append(Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens))
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            extra = delta.model_extra or {}
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            if reasoning:
                inline = False  # a server that parses reasoning sends content as answer
                yield Delta("reasoning", reasoning)
            if delta.content:
                splitter = splitter or ThinkSplitter(inline)
                yield from splitter.feed(delta.content)
        yield from splitter.finish() if splitter else ()

    def complete(self, messages: Sequence[Message], max_tokens: int | None = None) -> str:
        """A whole answer (reasoning dropped), for short internal calls such as query rewriting."""
        deltas = self.stream(messages, max_tokens)
        return "".join(d.text for d in deltas if d.kind == "answer").strip()


@contextmanager
def _api_errors(entry: ModelEntry) -> Iterator[None]:
    """Turn the client's exceptions into LLMError messages a user can act on (never the key)."""
    try:
        yield
    except (openai.OpenAIError, httpx.TransportError, OSError) as exc:
        raise _message_for(exc, entry) from None


def _message_for(exc: Exception, entry: ModelEntry) -> LLMError:
    where = f"{entry.model} at {entry.base_url}"
    if isinstance(exc, openai.AuthenticationError):
        variable = "DEEPSEEK_API_KEY" if entry.key == "deepseek" else "RAG_LLM_API_KEY"
        return LLMError(f"the API key was refused by {where}: check {variable}")
    if isinstance(exc, openai.NotFoundError):
        hint = f" (`ollama pull {entry.model}`)" if entry.provider == "ollama" else ""
        return LLMError(f"model {entry.model} not found at {entry.base_url}{hint}")
    if isinstance(exc, openai.BadRequestError) and _is_context_error(exc):
        return ContextTooLongError(f"the prompt is too long for {entry.model}")
    if isinstance(exc, openai.RateLimitError):
        return LLMError(f"{where} is rate limiting requests; try again in a minute")
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"{where} did not answer in time; try again or raise RAG_LLM_TIMEOUT_S")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError | OSError):
        return LLMError(_connection_message(entry))
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"{where} failed with HTTP {exc.status_code}; try again later")
    return LLMError(f"{where} failed: {type(exc).__name__}")


CONNECTION_HINTS = {
    "ollama": "is Ollama running (`ollama serve`)?",
    "vllm": "is the vLLM server running (`vllm serve MODEL`)?",
    "deepseek": "check the network and https://status.deepseek.com",
    "openai-compatible": "is the model server running, and is RAG_LLM_BASE_URL right?",
}


def _connection_message(entry: ModelEntry) -> str:
    return f"cannot reach {entry.base_url}: {CONNECTION_HINTS[entry.provider]}"


def _is_context_error(exc: openai.BadRequestError) -> bool:
    text = str(exc).lower()
    return "context" in text and ("length" in text or "too long" in text or "maximum" in text)


def _api_key(settings: Settings, entry: ModelEntry) -> str:
    secret = settings.deepseek_api_key if entry.key == "deepseek" else settings.llm_api_key
    if secret is None or not secret.get_secret_value():
        if entry.key == "none" or entry.provider != "deepseek":
            return "not-needed"  # local servers accept any key; the client requires one
        variable = "DEEPSEEK_API_KEY" if entry.key == "deepseek" else "RAG_LLM_API_KEY"
        raise LLMError(f"no API key for {entry.model}: set {variable} in .env or the environment")
    return secret.get_secret_value()
