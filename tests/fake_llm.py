"""A real HTTP server on 127.0.0.1 speaking OpenAI chat completions, in several dialects.

The model name in the request picks the dialect. Every request body is recorded so tests can
assert on what the server received. This fake lives in tests/ only.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prompts.templates import KEYWORDS_SYSTEM_PROMPT, RELEVANCE_SYSTEM_PROMPT

PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.S)
REASONING = "Let me look at passage 1. It answers the question."
USAGE = (321, 45)  # the tokens this server says each streamed answer took


def answer_for(messages: list[dict], cite: int = 1) -> str:
    """A deterministic grounded answer: quote the first passage and cite it."""
    user = messages[-1]["content"]
    if "<follow_up>" in user:  # query rewriting: previous question + follow-up
        previous = re.findall(r"User: (.*)", user)
        follow = re.search(r"<follow_up>\n(.*?)\n</follow_up>", user, re.S).group(1)
        return f"{previous[-1] if previous else ''} {follow}".strip()
    passages = PASSAGE.findall(user)
    if not passages:
        return "I could not find the answer to that in the documents."
    first = " ".join(passages[0][1].split())[:80]
    return f"According to the docs, {first} [{cite}]."


def is_query_model_call(messages: list[dict]) -> bool:
    system = messages[0]["content"]
    return system.startswith("You translate a search question") or system == KEYWORDS_SYSTEM_PROMPT


def pieces(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients that stop reading mid-stream (a closed generator) reset the connection.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeLLM:
    """Start with `FakeLLM()`; `url` is the base URL; `stop()` shuts it down."""

    def __init__(self, slow_s: float = 2.0, port: int = 0):
        self.requests: list[dict] = []
        self.slow_s = slow_s
        self.flaky_calls = 0
        #: the query model's replies: question -> its translation (or keyword line); a question
        #: not listed is echoed, which the query model drops (the search goes on as it was)
        self.translations: dict[str, str] = {}
        self.query_delay_s = 0.0  # how long a query-model call takes
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = _Server(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer_requests(self) -> list[dict]:
        """Requests that asked for an answer (not a follow-up rewrite, not a relevance check)."""
        return [
            r
            for r in self.requests
            if "<follow_up>" not in r["messages"][-1]["content"]
            and r["messages"][0]["content"] != RELEVANCE_SYSTEM_PROMPT
            and not is_query_model_call(r["messages"])
        ]

    def query_requests(self) -> list[dict]:
        """Requests of the query model (a translation or a keyword line)."""
        return [r for r in self.requests if is_query_model_call(r["messages"])]

    def relevance_requests(self) -> list[dict]:
        return [r for r in self.requests if r["messages"][0]["content"] == RELEVANCE_SYSTEM_PROMPT]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeLLM

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._json(200, {"object": "list", "data": [{"id": "chat", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.fake.requests.append({**body, "authorization": self.headers.get("Authorization")})
        model = body["model"]
        if is_query_model_call(body["messages"]) and model not in {"err-401", "err-500"}:
            time.sleep(self.fake.query_delay_s)
            question = body["messages"][-1]["content"]
            message = {
                "role": "assistant",
                "content": self.fake.translations.get(question, question),
            }
            if body.get("stream"):
                self._stream("plain", "", message["content"])
            else:
                self._json(200, _completion(model, message))
            return
        if error := self._error_for(model, body):
            self._json(*error)
            return
        reasoning, content = self._output(model, body["messages"])
        if model == "slow":
            time.sleep(self.fake.slow_s)
        if body.get("stream"):
            usage = (body.get("stream_options") or {}).get("include_usage")
            self._stream(model, reasoning, content, bool(usage))
        else:
            message = {"role": "assistant", "content": content}
            if reasoning and model == "reasoner":
                message["reasoning_content"] = reasoning
            self._json(200, _completion(model, message))

    def _error_for(self, model: str, body: dict) -> tuple[int, dict] | None:
        if model == "err-401" or self.headers.get("Authorization") == "Bearer wrong-key":
            return 401, _err(
                "Authentication Fails, Your api key is invalid", "authentication_error"
            )
        if model == "err-404":
            return 404, _err(f"model '{model}' not found", "not_found_error")
        if model == "err-500":
            return 500, _err("internal error", "server_error")
        if model == "flaky-429":
            self.fake.flaky_calls += 1
            if self.fake.flaky_calls % 2 == 1:
                return 429, _err("Rate limit reached", "rate_limit_error")
        if model == "ctx" and body["messages"][-1]["content"].count("<passage ") > 2:
            return 400, _err(
                "This model's maximum context length is 4096 tokens. However, you requested "
                "9000 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
            )
        return None

    def _output(self, model: str, messages: list[dict]) -> tuple[str, str]:
        if messages[0]["content"] == RELEVANCE_SYSTEM_PROMPT:  # the relevance check's one word
            return "", "No." if model == "judge-no" else "Yes"
        answer = answer_for(messages, cite=9 if model == "cite-bad" else 1)
        if model == "bare":  # citation numbers and nothing else, as small models do
            answer = "[1]"
        if model == "misquote":  # cites a real passage, then gives a figure it does not hold
            answer = answer.replace("`", "").removesuffix(".") + " It takes 987 days [1]."
            answer += " See `never-there.sh`."
        if model == "badlink":  # cites a real passage, then a download link no passage holds
            answer = answer.removesuffix(".") + ". Get it at https://evil.example.net/fix.exe [1]."
        if model in {"reasoner", "trickle", "vllm", "r1-think", "r1-noopen", "r1-closeonly"}:
            return REASONING, answer
        return "", answer

    def _stream(self, model: str, reasoning: str, content: str, usage: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for sent, delta in enumerate(self._deltas(model, reasoning, content)):
            self._chunk(_sse(model, delta))
            if model == "trickle":  # slow enough for a person (or a browser test) to stop
                time.sleep(0.25)
            if model == "drop" and sent == 4:
                self.wfile.write(b"5\r\ndata:")  # half a chunk, then the connection dies
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
        if usage:  # OpenAI's protocol: one last chunk, no choices, the call's usage
            counted = {"prompt_tokens": USAGE[0], "completion_tokens": USAGE[1]}
            tail = {"object": "chat.completion.chunk", "model": model, "choices": [],
                    "usage": {**counted, "total_tokens": sum(USAGE)}}  # fmt: skip
            self._chunk(f"data: {json.dumps(tail)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _deltas(self, model: str, reasoning: str, content: str) -> list[dict]:
        first = [{"role": "assistant", "content": ""}]
        if model in {"reasoner", "trickle"}:
            return (
                first
                + [{"reasoning_content": p} for p in pieces(reasoning)]
                + [{"content": p} for p in pieces(content)]
            )
        if model == "vllm":
            return (
                first
                + [{"reasoning": p} for p in pieces(reasoning)]
                + [{"content": p} for p in pieces(content)]
            )
        text = {
            "r1-think": f"<think>\n{reasoning}\n</think>\n\n{content}",
            "r1-noopen": f"{reasoning}\n</think>\n\n{content}",
            "r1-closeonly": f"</think>\n\n{content}",
        }.get(model, content)
        return first + [{"content": p} for p in pieces(text, 3)]

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)


def _sse(model: str, delta: dict) -> bytes:
    chunk = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


def _completion(model: str, message: dict) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _err(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "code": None}}


if __name__ == "__main__":  # `python -m tests.fake_llm [PORT]`: serve until Ctrl-C
    server = FakeLLM(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"fake OpenAI-compatible server at {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":  # `python tests/fake_llm.py PORT`: serve until killed (for bench/)
    server = FakeLLM(port=int(sys.argv[1]))
    print(server.url, flush=True)
    server.thread.join()
