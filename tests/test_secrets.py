"""API keys never appear in logs, errors, the UI, or the repr of settings."""

from __future__ import annotations

import logging

from streamlit.testing.v1 import AppTest

from retrieval.settings import Settings
from tests.conftest import ROOT, run_cli

PLANTED = "sk-PLANTED-7f3a9c1e5b"


def test_settings_never_show_keys():
    settings = Settings(
        _env_file=None,
        deepseek_api_key=PLANTED,
        llm_api_key=PLANTED,
        store_token=PLANTED,
        app_password=PLANTED,
        admin_password=PLANTED,
    )
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert PLANTED not in text


def test_planted_key_absent_from_cli_output_and_errors(tmp_path, fake_llm):
    from tests.conftest import SMALL, write_docs

    docs = write_docs(tmp_path / "docs", SMALL)
    db = str(tmp_path / "k.db")
    assert run_cli("-m", "ingest", str(docs), "--db", db).returncode == 0
    env = {
        "RAG_LLM_BASE_URL": fake_llm.url,
        "RAG_LLM_MODEL_NAME": "err-401",
        "RAG_LLM_API_KEY": PLANTED,
        "DEEPSEEK_API_KEY": PLANTED,
    }
    for args in (["--json"], []):
        result = run_cli(
            "-m", "retrieval.ask", "vacation days?", "--db", db, "--model", "custom", *args, env=env
        )
        assert result.returncode == 1 and "API key was refused" in result.stderr
        assert PLANTED not in result.stdout + result.stderr
    assert fake_llm.requests[-1]["authorization"] == f"Bearer {PLANTED}"  # it was really sent


def test_planted_key_absent_from_app_page_and_logs(monkeypatch, tmp_path, fake_llm, caplog, capfd):
    from tests.conftest import SMALL, write_docs

    docs = write_docs(tmp_path / "docs", SMALL)
    db = str(tmp_path / "app.db")
    assert run_cli("-m", "ingest", str(docs), "--db", db).returncode == 0
    for name, value in {
        "RAG_STORE_URI": db,
        "RAG_EMBEDDING_MODEL": "minilm-offline",
        "RAG_LLM": "custom",
        "RAG_LLM_BASE_URL": fake_llm.url,
        "RAG_LLM_MODEL_NAME": "err-401",
        "RAG_LLM_API_KEY": PLANTED,
        "DEEPSEEK_API_KEY": PLANTED,
        "RAG_LLM_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=120).run()
    at.chat_input[0].set_value("How many vacation days?").run()
    page = [
        str(e.value)
        for kind in ("markdown", "error", "warning", "caption", "info")
        for e in getattr(at, kind)
    ]
    assert any("API key was refused" in text for text in page)
    captured = capfd.readouterr()
    everything = "\n".join(page) + caplog.text + captured.out + captured.err
    assert PLANTED not in everything
