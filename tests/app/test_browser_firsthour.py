"""The first hour in a real browser (Debian's chromium, `streamlit run`): a model that declines
over a strong match says which passage may hold the answer; a weak pick offers the base with a
strong match in one click; passage headings are small labels; chats are listed by day. The
pages are docs/screenshot-decline.png and docs/screenshot-elsewhere.png."""

from __future__ import annotations

import pytest

from accounts.users import Account, User, hash_password, save_account
from prompts.templates import CANNOT_ANSWER
from tests.app.conftest import ARTIFACTS
from tests.app.test_browser import PASSWORD, ask, choose, clean, new_page, sign_in, streamlit_app
from tests.conftest import free_port
from tests.fake_llm import FakeLLM


@pytest.fixture(scope="module")
def declining(browser_index):
    """The app answering with a model that always declines (the test server, scripted)."""
    server = FakeLLM()
    base = server.server.RequestHandlerClass

    def output(handler, model, messages):
        if model == "decline":
            return "", f"Maybe ask your manager [1]. {CANNOT_ANSWER}"
        return base._output(handler, model, messages)

    server.server.RequestHandlerClass = type("Declining", (base,), {"_output": output})
    tmp, db = browser_index
    users = tmp / "firsthour-users.jsonl"
    save_account(users, Account(User("di", "Di"), hash_password(PASSWORD)))
    env = {"RAG_STORE_URI": db, "RAG_EMBEDDING_MODEL": "minilm-offline", "RAG_LLM": "custom",
           "RAG_LLM_BASE_URL": server.url, "RAG_LLM_MODEL_NAME": "decline",
           "RAG_LLM_API_KEY": "browser-test-key", "RAG_USERS_FILE": str(users),
           "RAG_CHAT_DB": str(tmp / "firsthour-chats.sqlite")}  # fmt: skip
    with streamlit_app(env, free_port()) as url:
        yield url
    server.stop()


def test_a_decline_over_a_strong_match_and_its_passage(declining, browser):
    from playwright.sync_api import expect

    page = new_page(browser)
    sign_in(page, declining, "di")
    ask(page, "How many days of sick leave can I take?")
    chat = page.get_by_test_id("stChatMessage").last
    expect(chat.get_by_text(CANNOT_ANSWER)).to_be_visible()
    expect(
        chat.get_by_text("The model found no answer, but passage [1] may hold it.")
    ).to_be_visible()
    assert "ask your manager" not in page.inner_text("body")  # one status: no half answer
    source = chat.get_by_test_id("stExpander").first
    source.click()
    expect(source.locator("strong").first).to_be_visible(timeout=30_000)
    assert source.locator("h1, h2, h3, h4").count() == 0  # headings inside are small labels
    expect(page.get_by_test_id("stSidebar").get_by_text("Today", exact=True)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "chat-decline.png"), full_page=True)
    clean(page)


def test_a_weak_pick_offers_the_base_with_a_strong_match(declining, browser):
    from playwright.sync_api import expect

    page = new_page(browser)
    sign_in(page, declining, "di")
    picker = page.get_by_test_id("stMultiSelect").filter(has_text="Search in")
    choose(page, picker, page.get_by_role("option", name="IT help"))
    page.keyboard.press("Escape")
    ask(page, "Who approves my leave request?")
    expect(page.get_by_text("has a strong match for this question").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "chat-elsewhere.png"), full_page=True)
    page.get_by_role("button", name="Search in HR handbook").click()
    expect(page.get_by_text("Searched in: HR handbook").first).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stChatMessage")).to_have_count(4, timeout=30_000)
    assert "[1] handbook/" in page.inner_text("body")
    clean(page)
