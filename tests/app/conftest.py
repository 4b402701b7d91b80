"""Shared by the app tests: one ingested copy of docs_corpus/ per session, the environment
the app reads, and small AppTest helpers."""

from __future__ import annotations

import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import CORPUS, ROOT, run_cli

APP = str(ROOT / "app" / "main.py")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture(scope="session")
def app_index(tmp_path_factory):
    """A copy of docs_corpus/ ingested by the real CLI (a separate process, as an admin would)."""
    tmp = tmp_path_factory.mktemp("app")
    docs = tmp / "docs"
    shutil.copytree(CORPUS, docs)
    (docs / "private").mkdir()
    (docs / "private" / ".access").write_text("hr\n")
    (docs / "private" / "salaries.md").write_text(
        "# Salary bands\n\n## Band K\n\nThe Kestrel salary band K pays 91,500 euros a year.\n"
    )
    db = str(tmp / "app.db")
    result = run_cli("-m", "ingest", str(docs), "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    return {"db": db, "docs": docs, "tmp": tmp}


@pytest.fixture()
def env(monkeypatch, app_index, fake_llm, tmp_path):
    for name in ("RAG_LLM", "RAG_APP_PASSWORD", "RAG_ADMIN_PASSWORD", "DEEPSEEK_API_KEY",
                 "RAG_AUTH", "RAG_USERS_FILE", "RAG_CHAT_DB"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_STORE_URI", app_index["db"])
    monkeypatch.setenv("RAG_DOCS_DIR", str(app_index["docs"]))
    monkeypatch.setenv("RAG_EMBEDDING_MODEL", "minilm-offline")
    monkeypatch.setenv("RAG_LLM_BASE_URL", fake_llm.url)
    monkeypatch.setenv("RAG_LLM_API_KEY", "test-key")
    monkeypatch.setenv("RAG_LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("RAG_CHAT_DB", str(tmp_path / "chats.sqlite"))  # each test its own

    def use(dialect: str | None) -> None:
        if dialect:
            monkeypatch.setenv("RAG_LLM", "custom")
            monkeypatch.setenv("RAG_LLM_MODEL_NAME", dialect)

    return use


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    return at


def ask(at: AppTest, question: str = QUESTION) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception
    return at


def labels(at: AppTest) -> list[str]:
    """Expander labels as they read (the page escapes markdown in them)."""
    return [e.label.replace("\\", "") for e in at.expander]


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def no_traceback(at: AppTest) -> None:
    everything = " ".join(texts(at.markdown) + texts(at.error) + texts(at.warning))
    assert "Traceback" not in everything and not at.exception


def doc_count(at: AppTest) -> int:
    found = re.search(r"\*\*(\d+)\*\* documents", " ".join(texts(at.sidebar.caption)))
    assert found, texts(at.sidebar.caption)
    return int(found.group(1))


@pytest.fixture(scope="session")
def browser_index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    db = str(tmp / "browser.db")
    assert run_cli("-m", "ingest", str(CORPUS), "--db", db).returncode == 0
    return tmp, db


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium under Playwright, once per session."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
