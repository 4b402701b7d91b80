"""The chat in a real browser: Debian's chromium driven by Playwright against `streamlit run`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import CORPUS, ROOT, free_port, run_cli

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
QUESTION = "How many days of paid annual leave do full-time employees get?"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required on CI: `make test` installs it with apt-get")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, fake_llm):
    tmp = tmp_path_factory.mktemp("browser")
    db = str(tmp / "browser.db")
    assert run_cli("-m", "ingest", str(CORPUS), "--db", db).returncode == 0
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_STORE_URI": db,
        "RAG_EMBEDDING_MODEL": "minilm-offline",
        "RAG_LLM": "custom",
        "RAG_LLM_BASE_URL": fake_llm.url,
        "RAG_LLM_MODEL_NAME": "reasoner",
        "RAG_LLM_API_KEY": "browser-test-key",
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app/main.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_question_answered_in_browser(app_url):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        box = page.get_by_test_id("stChatInputTextArea")
        expect(box).to_be_visible(timeout=90_000)
        box.fill(QUESTION)
        box.press("Enter")
        answer = page.get_by_text("According to the docs", exact=False)
        expect(answer.first).to_be_visible(timeout=90_000)
        expect(page.get_by_text("[1] handbook/leave-policy.md").first).to_be_visible()
        expect(page.get_by_text("Reasoning", exact=True).first).to_be_visible()
        page.wait_for_timeout(500)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Exception" not in body
        assert "browser-test-key" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "chat.png").stat().st_size > 10_000
