"""A real HTTP server on 127.0.0.1 speaking both rerank shapes, scoring by word overlap.

`POST /rerank {query, texts}` answers text-embeddings-inference's `[{index, score}]`;
`POST /v1/rerank {model, query, documents}` answers the Cohere/Jina shape that vLLM and
Infinity serve. A query containing "boom" gets HTTP 500. This fake lives in tests/ only.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def overlap(query: str, text: str) -> float:
    words = set(re.findall(r"\w+", query.lower()))
    found = set(re.findall(r"\w+", text.lower()))
    return len(words & found) / (len(words) or 1)


class FakeReranker:
    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeReranker

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.fake.requests.append((self.path, body))
        if "boom" in body.get("query", ""):
            return self._send(500, {"error": "boom"})
        if self.path == "/rerank" and "texts" in body:
            scores = [overlap(body["query"], t) for t in body["texts"]]
            rows = [{"index": i, "score": s} for i, s in enumerate(scores)]
            return self._send(200, sorted(rows, key=lambda r: -r["score"]))
        if self.path == "/v1/rerank" and "documents" in body and body.get("model"):
            scores = [overlap(body["query"], t) for t in body["documents"]]
            rows = [{"index": i, "relevance_score": s} for i, s in enumerate(scores)]
            return self._send(200, {"results": sorted(rows, key=lambda r: -r["relevance_score"])})
        return self._send(422, {"error": "unexpected request shape"})

    def _send(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
