"""Scans, screenshots, spreadsheets and slides in a real browser: a docs folder of only such
files (made here) goes through `python -m ingest` with OCR on, and each of four questions,
asked in chromium, is answered from the one file that holds it and cites that file (and the
scan's page, the sheet, the slide)."""

from __future__ import annotations

import pytest

from tests.app.test_browser import ask, clean, in_chinese, new_page, sign_in, streamlit_app
from tests.conftest import free_port, run_cli
from tests.ingest import officegen

pytest.importorskip("playwright")  # test_browser.py above has already checked chromium

NOTICE = ["分公司通知", "自三月起，深圳办公室的门禁卡", "统一在二楼前台领取。"]
SCREENSHOT = ["Settings > Network", "The guest Wi-Fi network is called Harbour-Guest;",
              "its password changes every Monday."]  # fmt: skip


def formats_folder(docs) -> None:
    docs.mkdir()
    scan = officegen.text_image(NOTICE, 30, 620)
    officegen.scanned_pdf(docs / "notice.pdf", ["Branch office notices for 2026.", scan])
    (docs / "wifi.png").write_bytes(officegen.png(officegen.text_image(SCREENSHOT, 26, 820)))
    officegen.xlsx(docs / "rooms.xlsx", {"Meeting rooms": [
        ["Room", "Floor", "Seats", "Projector"],
        ["Aurora", 7, 12, "yes"],
        ["Zephyr", 3, 40, "no"],
        ["Lagoon", 5, 6, "yes"],
    ]})  # fmt: skip
    officegen.pptx(docs / "onboarding.pptx", [
        {"title": "Welcome", "body": "Your first week at the company."},
        {"title": "Laptops", "body": "Laptops are handed out by the IT desk on floor 9 "
         "every Tuesday morning.", "notes": "Remind them to bring an ID."},
    ])  # fmt: skip


@pytest.fixture(scope="module")
def formats_app(tmp_path_factory, fake_llm):
    from accounts.users import Account, User, hash_password, save_account
    from tests.app.test_browser import PASSWORD

    tmp = tmp_path_factory.mktemp("browser-formats")
    formats_folder(tmp / "docs")
    db = str(tmp / "formats.db")
    # multilingual embedder; small chunks, so the scan's text is a chunk of its own (page 2)
    env = {"RAG_EMBEDDING_MODEL": "e5-offline", "RAG_CHUNK_TOKENS": "40",
           "RAG_MIN_CHUNK_TOKENS": "0"}  # fmt: skip
    result = run_cli("-m", "ingest", str(tmp / "docs"), "--db", db, "--json", env=env)
    assert result.returncode == 0, result.stderr
    users = tmp / "users.jsonl"
    save_account(users, Account(User("ana", "Ana", admin=True), hash_password(PASSWORD)))
    env |= {
        "RAG_STORE_URI": db,
        "RAG_DOCS_DIR": str(tmp / "docs"),
        "RAG_LLM": "custom",
        "RAG_LLM_BASE_URL": fake_llm.url,
        "RAG_LLM_MODEL_NAME": "plain",
        "RAG_LLM_API_KEY": "browser-test-key",
        "RAG_USERS_FILE": str(users),
        "RAG_CHAT_DB": str(tmp / "chats.sqlite"),
    }
    with streamlit_app(env, free_port()) as url:
        yield url, result.stdout


@pytest.mark.parametrize(
    ("question", "cited"),
    [
        ("What is the guest Wi-Fi network called?", "[1] wifi.png"),
        ("How many seats does the Zephyr meeting room have?", "[1] rooms.xlsx › Meeting rooms"),
        ("When does the IT desk hand out laptops?", "[1] onboarding.pptx › Laptops"),
    ],
)
def test_a_screenshot_a_sheet_row_and_a_slide_answer(formats_app, browser, question, cited):
    from playwright.sync_api import expect

    url, _ = formats_app
    page = new_page(browser)
    sign_in(page, url, "ana")
    ask(page, question, done=cited)
    expect(page.get_by_text(cited, exact=False).first).to_be_visible()
    clean(page)
    page.context.close()


def test_a_scanned_chinese_page_answers_with_its_page(formats_app, browser):
    from playwright.sync_api import expect

    url, report = formats_app
    assert '"ocr_pages": 2' in report  # the screenshot and the scanned page, nothing else
    page = new_page(browser)
    sign_in(page, url, "ana")
    in_chinese(page)
    ask(page, "深圳办公室的门禁卡在哪里领取？", done="[1] notice.pdf")
    expect(page.get_by_text("[1] notice.pdf", exact=False).first).to_contain_text("第 2 ·")
    clean(page)
    page.context.close()
