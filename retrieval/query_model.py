"""The configured chat model's help in finding passages.

A bilingual team asks in one language about pages written in the other, and the offline
embedders carry that crossing through small multilingual encoders. When a chat model is
configured, the query step also asks it for the question in the index's other language (and,
if chosen, a line of the words the documents would use); the retriever searches with each and
fuses the rankings. The call runs on a worker thread beside the first search, its result is
cached by question, and a model that fails, says nothing useful or takes longer than its budget
leaves the plain search as it was.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from prompts.templates import KEYWORDS_SYSTEM_PROMPT, LANGUAGE_NAMES, TRANSLATE_SYSTEM_PROMPT
from retrieval.llm import ChatClient, LLMError, Message, open_chat
from retrieval.settings import Settings
from retrieval.tokens import language

log = logging.getLogger(__name__)
MAX_VARIANT_CHARS = 400  # a model that rambles gives its first line, cut to this
MAX_TOKENS = 120  # a translated question or a keyword line is short


@dataclass(frozen=True)
class Variant:
    """Another wording of a question to search with: `kind` says what the model wrote."""

    text: str
    kind: str  # "translation" | "keywords"
    lang: str


def other_language(lang: str) -> str:
    return "en" if lang == "zh" else "zh"


def first_line(reply: str) -> str:
    """The model's reply as one search line: the first non-empty line without quotes or a
    leading label such as 'Translation:'."""
    for line in reply.strip().splitlines():
        line = line.strip().strip("\"'“”`").strip()
        if ":" in line[:16] and line.split(":", 1)[1].strip():
            head = line.split(":", 1)[0].lower()
            if head in {"translation", "english", "chinese", "keywords", "query", "翻译", "关键词"}:
                line = line.split(":", 1)[1].strip()
        if line:
            return line[:MAX_VARIANT_CHARS]
    return ""


class QueryModel:
    """Writes a question's other wordings with the chat model: the question in the other
    language of the index (when the index holds that language) and, with `query_keywords`,
    a keyword line in the documents' terms. Calls run beside the search; results are cached."""

    def __init__(self, chat: ChatClient, settings: Settings):
        self.chat = chat
        self.settings = settings
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], tuple[Variant, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="query-model")
        # a question's second call (the keyword line) runs here, never on the pool its first
        # waits on: four questions waiting for their second calls would hold every worker
        self._calls = ThreadPoolExecutor(max_workers=4, thread_name_prefix="query-model-call")

    def kinds(self, question: str, languages: Sequence[str]) -> tuple[str, ...]:
        """What to ask for: a translation when the index has the other language (an index
        whose languages are unknown yet is taken as bilingual), keywords when chosen."""
        wanted = []
        if not languages or other_language(language(question)) in languages:
            wanted.append("translation")
        if self.settings.query_keywords:
            wanted.append("keywords")
        return tuple(wanted)

    def start(self, question: str, languages: Sequence[str]) -> Future[tuple[Variant, ...]]:
        """Begin writing the variants; the future never raises (a failure gives none)."""
        kinds = self.kinds(question, languages)
        key = (question, kinds)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is not None or not kinds:
            done: Future[tuple[Variant, ...]] = Future()
            done.set_result(cached or ())
            return done
        return self._threads.submit(self._write, question, kinds, key)

    def variants(self, pending: Future[tuple[Variant, ...]]) -> tuple[Variant, ...]:
        """The variants once written, or none when the model is over its time budget."""
        try:
            return pending.result(timeout=self.settings.query_model_timeout_s)
        except TimeoutError:
            log.warning("the query model took over %.1f s; searching without its help",
                        self.settings.query_model_timeout_s)  # fmt: skip
            return ()

    def _write(
        self, question: str, kinds: tuple[str, ...], key: tuple[str, tuple[str, ...]]
    ) -> tuple[Variant, ...]:
        calls = [self._calls.submit(self._one, question, kind) for kind in kinds[1:]]
        written = [self._one(question, kinds[0]), *(c.result() for c in calls)]
        found = tuple(v for v in written if v is not None)
        with self._lock:
            self._cache[key] = found
            while len(self._cache) > self.settings.query_model_cache:
                self._cache.popitem(last=False)
        return found

    def _one(self, question: str, kind: str) -> Variant | None:
        asked = language(question)
        target = other_language(asked) if kind == "translation" else asked
        system = (
            TRANSLATE_SYSTEM_PROMPT.format(language=LANGUAGE_NAMES[target])
            if kind == "translation"
            else KEYWORDS_SYSTEM_PROMPT
        )
        try:
            reply = self.chat.complete(
                [Message("system", system), Message("user", question)], MAX_TOKENS
            )
        except LLMError as exc:
            log.warning("the query model failed (%s); searching without its help", exc)
            return None
        text = first_line(reply)
        if not text or text.strip().lower() == question.strip().lower():
            return None
        if kind == "translation" and language(text) != target:
            return None  # not a translation: searching with it adds nothing
        return Variant(text, kind, language(text))

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self._calls.shutdown(wait=False, cancel_futures=True)


def open_query_model(settings: Settings) -> QueryModel | None:
    """The configured model's query help, or None (no model, or `query_model` off)."""
    if not settings.query_model or not settings.llm:
        return None
    try:
        chat = open_chat(settings, settings.query_model_name or None)
    except LLMError as exc:  # no key yet, say: the answer says so; the search goes on alone
        log.warning("no query model (%s); searching without its help", exc)
        return None
    return QueryModel(chat, settings) if chat else None
