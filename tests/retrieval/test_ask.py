"""`python -m retrieval.ask` end to end: a real subprocess, a real index, the fake server."""

from __future__ import annotations

import json

import pytest

from tests.conftest import SMALL, run_cli, write_docs


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ask")
    docs = write_docs(tmp / "docs", SMALL)
    db = str(tmp / "ask.db")
    assert run_cli("-m", "ingest", str(docs), "--db", db).returncode == 0
    return db


def ask(db, fake, dialect, *extra):
    env = {
        "RAG_LLM_BASE_URL": fake.url,
        "RAG_LLM_MODEL_NAME": dialect,
        "RAG_LLM_API_KEY": "k-1",
    }
    return run_cli(
        "-m",
        "retrieval.ask",
        "how many vacation days?",
        "--db",
        db,
        "--model",
        "custom",
        *extra,
        env=env,
    )


def test_json_output(cli_db, fake_llm):
    result = ask(cli_db, fake_llm, "reasoner", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) == {
        "status",
        "answer",
        "reasoning",
        "sources",
        "model",
        "weak_match",
        "unsupported",
        "elsewhere",
    }
    assert out["status"] == "answered"
    assert out["model"] == "reasoner" and out["reasoning"].startswith("Let me look")
    assert out["answer"].endswith("[1].") and "Let me look" not in out["answer"]
    assert set(out["sources"][0]) == {"n", "doc", "heading", "relevance"}
    assert out["sources"][0]["doc"] == "hr/leave.md"


def test_streamed_output_lists_sources(cli_db, fake_llm):
    result = ask(cli_db, fake_llm, "r1-noopen")
    assert result.returncode == 0, result.stderr
    reasoning_at = result.stdout.index("Let me look")
    answer_at = result.stdout.index("According to the docs")
    assert reasoning_at < answer_at < result.stdout.index("Sources:")
    assert "*[1] hr/leave.md" in result.stdout


def test_failure_is_one_line_and_nonzero(cli_db, fake_llm):
    result = ask(cli_db, fake_llm, "err-404")
    assert result.returncode == 1
    assert "error: model err-404 not found" in result.stderr
    assert "Traceback" not in result.stderr
