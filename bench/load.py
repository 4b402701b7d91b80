"""Load on the API: 20 concurrent clients for 60 s, each alternating `POST /v1/search` and
`POST /v1/chat/completions` (answers from the test LLM server on 127.0.0.1), while an ingest
job adds 30 documents to the same index through the local Milvus Lite server. One uvicorn
process serves the API (sync routes run in its thread pool), MiniLM embeds. Goal: 0 errors."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from accounts.users import Account, ApiKey, User, key_hash, new_api_key, save_account
from bench.common import ROOT, free_port
from bench.ttft import QUESTIONS, TestServer
from ingest.jobs import run_ingest_job
from retrieval.settings import Settings
from server.api import create_app

CLIENTS, SECONDS = 20, 60


def serve(settings: Settings):
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def client_loop(
    url: str, key: str, until: float, out: dict[str, list[float]], errors: list
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        n = 0
        while time.monotonic() < until:
            question = QUESTIONS[n % len(QUESTIONS)]
            path, body = (("/v1/search", {"query": question, "k": 5}) if n % 2 == 0 else
                          ("/v1/chat/completions", {"model": "custom", "messages": [
                              {"role": "user", "content": question}]}))  # fmt: skip
            start = time.perf_counter()
            try:
                response = http.post(path, json=body)
                status = response.json().get("status", "answered") if response.is_success else ""
                if response.status_code != 200 or status == "error":
                    errors.append(f"{path} {response.status_code} {status}")
            except httpx.HTTPError as exc:
                errors.append(f"{path} {type(exc).__name__}")
            out[path].append((time.perf_counter() - start) * 1000)
            n += 1


def run() -> dict:
    fake = TestServer()
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(ROOT / "docs_corpus", docs)
        users = Path(tmp) / "users.jsonl"
        key_id, key = new_api_key()
        save_account(users, Account(User("load", admin=True), "$argon2id$x",
                                    (ApiKey(key_id, key_hash(key)),)))  # fmt: skip
        env = {"RAG_EMBEDDING_MODEL": "minilm-offline", "HF_HUB_OFFLINE": "1"}
        db = str(Path(tmp) / "load.db")
        run_ingest_job(docs, db, env=env)
        llm = {"llm": "custom", "llm_base_url": fake.url, "llm_model_name": "chat",
               "llm_api_key": "k"}  # fmt: skip
        paths = {"store_uri": db, "docs_dir": docs, "users_file": users}
        settings = Settings(_env_file=None, embedding_model="minilm-offline",
                            api_rate_per_minute=100_000, **paths, **llm)  # fmt: skip
        server, thread, url = serve(settings)
        served_uri = server.config.app.state.service.retriever.store.location.uri
        for i in range(30):
            (docs / "extra").mkdir(exist_ok=True)
            (docs / "extra" / f"note{i}.md").write_text(
                f"# Note {i}\n\n## Item\n\nNote {i} text.\n"
            )
        out: dict[str, list[float]] = {"/v1/search": [], "/v1/chat/completions": []}
        errors: list[str] = []
        until = time.monotonic() + SECONDS
        clients = [threading.Thread(target=client_loop, args=(url, key, until, out, errors))
                   for _ in range(CLIENTS)]  # fmt: skip
        for c in clients:
            c.start()
        time.sleep(5)
        report = run_ingest_job(docs, served_uri, env=env)
        for c in clients:
            c.join()
        server.should_exit = True
        thread.join(timeout=10)
    fake.stop()
    return {"latency": out, "errors": errors, "ingested": report.docs_added}


def markdown(r: dict) -> str:
    rows = ["| endpoint | requests | p50 ms | p95 ms |", "|---|---|---|---|"]
    for path, times in r["latency"].items():
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        rows.append(f"| `{path}` | {len(times)} | {statistics.median(times):.0f} | {p95:.0f} |")
    errors = r["errors"]
    rows += ["", f"{CLIENTS} clients, {SECONDS} s; errors: **{len(errors)}**"
             f"{' (' + ', '.join(sorted(set(errors))[:5]) + ')' if errors else ''}; the ingest "
             f"job added {r['ingested']} documents meanwhile."]  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown(run()))
