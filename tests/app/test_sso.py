"""Single sign-on in a real browser: Streamlit's st.login against a real OpenID provider
(oidc-provider-mock, started here on 127.0.0.1), groups taken from a claim."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.app.test_browser import QUESTION, ask, clean, streamlit_app
from tests.conftest import free_port

CAROL = {"sub": "carol@example.com", "email": "carol@example.com", "name": "Carol",
         "groups": ["admins", "hr"]}  # fmt: skip
DAN = {"sub": "dan@example.com", "email": "dan@example.com", "name": "Dan", "groups": ["it"]}


@pytest.fixture(scope="module")
def provider():
    port = free_port()
    command = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port)]
    for user in (CAROL, DAN):
        command += ["--user-claims", json.dumps(user)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                message = f"the OIDC provider did not start: {process.stderr.read()}"
                raise RuntimeError(message) from None
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def sso_app(provider, browser_index, fake_llm, tmp_path_factory):
    tmp, db = browser_index
    port = free_port()
    secrets_file = tmp_path_factory.mktemp("sso") / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(16)}"\n'
        'client_id = "docs-qa"\n'
        'client_secret = "docs-qa-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = {
        "RAG_AUTH": "oidc",
        "RAG_STORE_URI": db,
        "RAG_EMBEDDING_MODEL": "minilm-offline",
        "RAG_LLM": "custom",
        "RAG_LLM_BASE_URL": fake_llm.url,
        "RAG_LLM_MODEL_NAME": "chat",
        "RAG_LLM_API_KEY": "browser-test-key",
        "RAG_CHAT_DB": str(tmp / "sso-chats.sqlite"),
    }
    with streamlit_app(env, port, "--secrets.files", str(secrets_file)) as url:
        yield url


def sso_sign_in(browser, url: str, who: dict):
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in with single sign-on").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=60_000)  # the provider's own page
    page.get_by_placeholder("sub").fill(who["sub"])
    page.get_by_role("button", name="Authorize").first.click()
    expect(page.get_by_test_id("stChatInputTextArea")).to_be_visible(timeout=60_000)
    expect(page.get_by_text(who["name"], exact=True).first).to_be_visible()
    return page


def test_single_sign_on_with_groups_from_a_claim(sso_app, browser):
    from playwright.sync_api import expect

    carol = sso_sign_in(browser, sso_app, CAROL)
    ask(carol, QUESTION)
    nav = carol.get_by_role("link", name="Feedback")
    expect(nav).to_be_visible()  # carol is in 'admins': the admin page is hers
    chat_url = carol.url
    carol.reload()  # Streamlit's own identity cookie keeps her signed in
    expect(carol.get_by_text("According to the docs", exact=False).first).to_be_visible(
        timeout=60_000
    )
    clean(carol)

    dan = sso_sign_in(browser, sso_app, DAN)
    expect(dan.get_by_role("link", name="Feedback")).to_have_count(0)
    expect(dan.get_by_test_id("stSidebar").get_by_text("No saved chats yet.")).to_be_visible()
    dan.goto(chat_url)
    expect(dan.get_by_text("That conversation no longer exists.")).to_be_visible(timeout=60_000)
    dan.get_by_role("button", name="Sign out").click()
    end_session = dan.get_by_role("button", name="End session")  # the provider's own page
    sign_in_again = dan.get_by_role("button", name="Sign in with single sign-on")
    expect(end_session.or_(sign_in_again)).to_be_visible(timeout=60_000)
    if end_session.is_visible():
        end_session.click()
    expect(sign_in_again).to_be_visible(timeout=60_000)
