"""The docs over HTTP: an OpenAI-compatible API (`python -m server.api`).

- `GET /v1/models`: the answer models (`RAG_LLM`, `RAG_LLM_CHOICES`) and `retrieval-only`,
  then one `docs-qa/<name>` per knowledge base the caller may read (the first answer model,
  searching only that base);
- `POST /v1/chat/completions`, streaming (SSE) or not: the last user message is the question,
  earlier turns are its history; the answer cites sources, which come back in the extra
  top-level field `sources` (on the last chunk of a stream, with `status`, `weak_match`,
  `unsupported`, `knowledge` and `elsewhere`, as in the plain completion);
- `POST /v1/search`: top-k passages with relevance, doc and heading paths, pages, base;
- both POSTs take an optional `knowledge` list of base names: only those are searched;
- `GET /healthz`, `GET /readyz` (the chunk count only to a caller with a key);
- `/docs` and `/openapi.json` only with RAG_API_DOCS=true.

Every /v1 call needs `Authorization: Bearer <key>`: a user's API key from the users file
(`python -m accounts.admin add-key NAME`), stored hashed; the user's groups (read afresh when the
file changes) filter every search, as in the chat; admins read everything. The limits every
front door shares (`retrieval.limits`: question length, k, strict types, a rate per key, a time
budget per request) are checked before any work, and every refusal, down to a body that is not
UTF-8 or JSON nested too deep, comes back in OpenAI's error shape. The same answer pipeline as
the chat (`retrieval.answer`), never the app.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from accounts.users import User, UsersFile, current_users, user_for_key
from retrieval.access import Access
from retrieval.answer import Answer, Found, Turn, answer_question
from retrieval.errors import UserError
from retrieval.limits import K_MAX, K_MIN, MAX_BASES, LimitError, Limits, RateLimit, within_budget
from retrieval.llm import Delta, LLMError, open_chat
from retrieval.private import secure_data_dir
from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from server.serving import (
    ReadableBases,
    UnknownKnowledgeError,
    open_served,
    passage_fields,
    source_fields,
)

RETRIEVAL_ONLY = "retrieval-only"
KNOWLEDGE_MODEL = "docs-qa/"  # + a knowledge base's name: a model that searches only it
log = logging.getLogger("server.api")


class ApiError(Exception):
    """An error in OpenAI's shape: {"error": {"message", "type", "code"}}."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "code": self.code}}
        headers = {"Retry-After": "60"} if self.status == 429 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


STRICT = ConfigDict(strict=True)  # "5" is not a number and true is not one either


class ChatMessage(BaseModel):
    model_config = STRICT
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = STRICT
    model: str
    messages: list[ChatMessage] = Field(max_length=200)
    stream: bool = False
    k: int | None = Field(None, ge=K_MIN, le=K_MAX, description="passages per answer (extension)")
    knowledge: list[str] | None = Field(
        None, max_length=MAX_BASES, description="knowledge bases to search (extension; none: all)"
    )


class SearchRequest(BaseModel):
    model_config = STRICT
    query: str
    k: int = Field(5, ge=K_MIN, le=K_MAX)
    knowledge: list[str] | None = Field(None, max_length=MAX_BASES)


class Service:
    """What the routes share: settings, the retriever, the users file (re-read on change)."""

    def __init__(self, settings: Settings, retriever: Retriever | None = None):
        self.settings = settings
        self._retriever = retriever
        self.limits = Limits.of(settings)
        self.limit = RateLimit(settings.api_rate_per_minute)
        self._lock = threading.Lock()
        self._bases: ReadableBases | None = None

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = open_served(self.settings)[1]
            return self._retriever

    def users(self) -> UsersFile:
        return current_users(self.settings.users_path())

    def models(self) -> list[str]:
        return [*self.settings.model_choices(), RETRIEVAL_ONLY]

    @property
    def bases(self) -> ReadableBases:
        retriever = self.retriever
        with self._lock:
            if self._bases is None:
                self._bases = ReadableBases(retriever)
            return self._bases

    def scope(self, user: User, knowledge: list[str] | None) -> Access:
        """What this call may search: the user's documents, within the bases asked for."""
        try:
            return self.bases.scope(user.access, knowledge)
        except UnknownKnowledgeError as exc:
            raise ApiError(404, str(exc), "invalid_request_error", "knowledge_not_found") from None

    def resolve(self, model: str) -> tuple[str, list[str]]:
        """(answer model, bases) a model id names: `docs-qa/<base>` is the first answer model
        (retrieval-only without one) within that base."""
        if model in self.models():
            return model, []
        if model.startswith(KNOWLEDGE_MODEL):
            return self.models()[0], [model.removeprefix(KNOWLEDGE_MODEL)]
        if model not in self.models():
            raise ApiError(
                404, f"unknown model {model!r}", "invalid_request_error", "model_not_found"
            )
        return model, []


def key_user(request: Request) -> tuple[str, User | None]:
    """(the bearer key, its user or None)."""
    service: Service = request.app.state.service
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return key, user_for_key(service.users().accounts, key) if key else None


def caller(request: Request) -> User:
    """The user behind the bearer key (401 without a valid one, 429 past the rate limit)."""
    service: Service = request.app.state.service
    key, user = key_user(request)
    if user is None:
        raise ApiError(401, "missing, unknown or revoked API key", "authentication_error")
    if not service.limit.allow(key):
        raise ApiError(429, "rate limit reached for this key", "rate_limit_error")
    request.state.user = user.name
    return user


def question_and_history(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message, and the user/assistant pairs before it."""
    if not messages or messages[-1].role != "user":
        raise ApiError(400, "messages must end with a user message", "invalid_request_error")
    turns, pending = [], None
    for message in messages[:-1]:
        if message.role == "user":
            pending = message.text()
        elif message.role == "assistant" and pending is not None:
            turns.append(Turn(pending, message.text()))
            pending = None
    return messages[-1].text(), turns


def events_for(service: Service, body: ChatRequest, user: User) -> Iterator[Found | Delta | Answer]:
    question, history = question_and_history(body.messages)
    refused(service.limits.question, question)  # before any work
    model, bases = service.resolve(body.model)
    access = service.scope(user, [*bases, *(body.knowledge or [])])
    chat = None
    if model != RETRIEVAL_ONLY:
        try:
            chat = open_chat(service.settings, model)
        except LLMError as exc:
            raise ApiError(503, str(exc), "server_error") from None
    return answer_question(
        question, history, service.retriever, chat, service.settings, body.k, access=access
    )


def completion(answer: Answer, model: str, reply_id: str) -> dict:
    message = {"role": "assistant", "content": answer.answer or answer.error}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    return {
        "id": reply_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage_fields(answer),
        "sources": source_fields(answer), "status": answer.status,
        "weak_match": answer.weak_match, "unsupported": answer.unsupported,
        "knowledge": list(answer.knowledge), "elsewhere": answer.elsewhere,
    }  # fmt: skip


def usage_fields(answer: Answer) -> dict[str, int]:
    """OpenAI's usage object: the model's own count when it reported one, else our estimate
    (no model, as in retrieval-only answers: no tokens)."""
    u = answer.usage
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens}  # fmt: skip


def chunk(reply_id: str, model: str, delta: dict, **extra) -> str:
    body = {"id": reply_id, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta,
            "finish_reason": extra.pop("finish_reason", None)}], **extra}  # fmt: skip
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def refused(check, *args):
    """A shared limit's refusal as an API error: 400, 429 or 504 in OpenAI's shape."""
    try:
        return check(*args)
    except LimitError as exc:
        status, kind = {"rate": (429, "rate_limit_error"), "timeout": (504, "timeout_error")}.get(
            exc.kind, (400, "invalid_request_error")
        )
        raise ApiError(status, str(exc), kind) from None


async def sse(events: Iterator, model: str, reply_id: str, budget_s: float) -> AsyncIterator[str]:
    """The answer's events as SSE chunks. Each event is pulled in a worker thread; when the
    client goes away the generator is closed there, which closes the model's stream. Past the
    time budget (checked between events; the model's own timeout bounds one wait) the stream
    ends with an error chunk."""
    done, streamed = object(), False
    ends = time.monotonic() + budget_s
    try:
        yield chunk(reply_id, model, {"role": "assistant", "content": ""})
        while (event := await anyio.to_thread.run_sync(next, events, done)) is not done:
            if time.monotonic() > ends:
                error = {"message": f"the answer took longer than its budget of {budget_s:g} s",
                         "type": "timeout_error", "code": None}  # fmt: skip
                yield f"data: {json.dumps({'error': error})}\n\n"
                return
            if isinstance(event, Delta):
                streamed |= event.kind == "answer"
                field = "content" if event.kind == "answer" else "reasoning_content"
                yield chunk(reply_id, model, {field: event.text})
            elif isinstance(event, Answer):  # without a model: the whole text comes here
                tail = {} if streamed else {"content": event.answer or event.error}
                yield chunk(reply_id, model, tail, finish_reason="stop",
                            sources=source_fields(event), status=event.status,
                            weak_match=event.weak_match, unsupported=event.unsupported,
                            usage=usage_fields(event), knowledge=list(event.knowledge),
                            elsewhere=event.elsewhere)  # fmt: skip
        yield "data: [DONE]\n\n"
    finally:
        await anyio.to_thread.run_sync(events.close)


Caller = Annotated[User, Depends(caller)]
router = APIRouter()


def service_of(request: Request) -> Service:
    return request.app.state.service


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready or not for anyone (a load balancer); the reason and the chunk count only for a
    caller with a key (they say what is indexed and where it lives)."""
    known = key_user(request)[1] is not None
    try:
        info = service_of(request).retriever.store.info()
    except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
        reason = str(exc)[:200] if known else "the index cannot be opened"
        return JSONResponse({"status": "not ready", "reason": reason}, 503)
    if info is None:
        return JSONResponse({"status": "not ready", "reason": "the index is empty"}, 503)
    return JSONResponse(
        {"status": "ready", "chunks": info.chunks} if known else {"status": "ready"}
    )


@router.get("/v1/models")
def models(request: Request, user: Caller) -> dict:
    service = service_of(request)
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "docs-qa"}
            for m in service.models()]  # fmt: skip
    return {"object": "list", "data": data + knowledge_models(service, user)}


def knowledge_models(service: Service, user: User) -> list[dict]:
    """One model per knowledge base the user may read, titled and described (extra fields
    that clients such as Open WebUI show)."""
    known = service.settings.knowledge()
    rows = []
    for name, count in service.bases.of(user.access).items():
        base = known.base(name)
        rows.append({"id": f"{KNOWLEDGE_MODEL}{name}", "object": "model", "created": 0,
                     "owned_by": "docs-qa", "name": base.label(), "description": base.about(),
                     "documents": count.docs})  # fmt: skip
    return rows


@router.post("/v1/search")
def search(request: Request, body: SearchRequest, user: Caller) -> dict:
    service = service_of(request)
    if service.settings.api_log_questions:
        log.info(json.dumps({"user": user.name, "query": body.query}, ensure_ascii=False))
    query = refused(service.limits.question, body.query, "query")
    access = service.scope(user, body.knowledge)
    hits = refused(within_budget, service.limits.budget_s,
                   lambda: service.retriever.search(query, body.k, access=access))  # fmt: skip
    data = [passage_fields(h) for h in hits]
    return {"object": "list", "data": data}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request, body: ChatRequest, user: Caller):
    service = service_of(request)
    if service.settings.api_log_questions:
        asked = body.messages[-1].text() if body.messages else ""
        log.info(json.dumps({"user": user.name, "question": asked[:500]}, ensure_ascii=False))
    events = await anyio.to_thread.run_sync(events_for, service, body, user)  # may read Milvus
    reply_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    budget = service.limits.budget_s
    if body.stream:
        stream = sse(events, body.model, reply_id, budget)
        return StreamingResponse(stream, media_type="text/event-stream")
    answer = await anyio.to_thread.run_sync(refused, within_budget, budget, last_answer, events)
    if answer.status == "error" and not answer.answer:
        if not answer.model:  # the question itself (empty, too long): the caller's to fix
            raise ApiError(400, answer.error, "invalid_request_error")
        raise ApiError(502, f"the answer model failed: {answer.error}", "server_error")
    return completion(answer, body.model, reply_id)


async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"msg": "invalid request", "loc": ()}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return ApiError(400, f"{where}: {first['msg']}"[:300], "invalid_request_error").response()


async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own refusals (no such route, wrong method, a body that is not UTF-8 JSON or
    is nested too deep to parse) in OpenAI's shape, not FastAPI's {"detail": ...}."""
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    message = {400: "the request body is not valid JSON in UTF-8",
               413: "request body too large"}.get(exc.status_code, exc.detail)  # fmt: skip
    return ApiError(exc.status_code, str(message), kind).response()


async def server_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return ApiError(500, "internal error", "server_error").response()


async def guard_and_log(request: Request, call_next):
    """One JSON access-log line per call, with the user's name but never the key or (unless
    RAG_API_LOG_QUESTIONS) the question (oversized bodies are refused before: `BodyLimit`)."""
    started = time.perf_counter()
    response = await call_next(request)
    took = round((time.perf_counter() - started) * 1000, 1)
    user = getattr(request.state, "user", None)
    record = {"method": request.method, "path": request.url.path,
              "status": response.status_code, "ms": took, "user": user}  # fmt: skip
    log.info(json.dumps(record))
    return response


class BodyLimit:
    """Refuses an oversized body (413, OpenAI's shape): by its Content-Length before reading
    it, else as it arrives (one sent in chunks has no length); the app gets the body whole."""

    def __init__(self, app, limit_bytes: int):
        self.app, self.limit = app, limit_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = ApiError(413, "request body too large", "invalid_request_error").response()
        if _declared_length(scope) > self.limit:
            return await too_large(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client left
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await too_large(scope, receive, send)
            more = message.get("more_body", False)
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        given = False

        async def replay():
            nonlocal given
            if given:
                return await receive()  # after the body: a disconnect, for a stream
            given = True
            return whole

        return await self.app(scope, replay, send)


def _declared_length(scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0  # a bad one: the body is counted
    return 0


def create_app(settings: Settings, retriever: Retriever | None = None) -> FastAPI:
    shown = settings.api_docs  # the schema tells a stranger every route and field: off by default
    app = FastAPI(title="Docs QA API", version="1", docs_url="/docs" if shown else None,
                  redoc_url=None, openapi_url="/openapi.json" if shown else None)  # fmt: skip
    app.state.service = Service(settings, retriever)
    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
    app.middleware("http")(guard_and_log)
    app.add_middleware(BodyLimit, limit_bytes=int(settings.api_max_body_mb * 1e6))
    app.include_router(router)
    return app


def last_answer(events: Iterator) -> Answer:
    final = None
    for event in events:
        final = event
    if not isinstance(final, Answer):
        raise UserError("the answer pipeline ended without an answer")
    return final


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from retrieval.cli import fail_cleanly

    parser = argparse.ArgumentParser(prog="python -m server.api", description=__doc__)
    parser.add_argument("--host", default=None, help="default: RAG_API_HOST (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="default: RAG_API_PORT (8600)")
    parser.add_argument("--users", type=Path, default=None, help="users file with the API keys")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with fail_cleanly():
        settings = load_settings(users_file=args.users)
        secure_data_dir(settings.data_dir())  # before anything is written there
        app = create_app(settings)
        uvicorn.run(app, host=args.host or settings.api_host, port=args.port or settings.api_port,
                    log_level="warning", access_log=False)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
