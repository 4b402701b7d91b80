"""A URL in an answer that none of its cited passages holds (made up by the model, or planted
in a document for it to repeat) is never a link and always marked: in the chat (real app,
AppTest), and in what the API and the MCP server return (the answer pipeline's verdict)."""

from __future__ import annotations

from retrieval.support import support, unlinked
from tests.app.conftest import ask, start, texts

PASSAGE = "VPN passwords expire every 90 days. Reset yours at https://id.example.com today."


def test_a_url_no_cited_passage_holds_marks_the_answer():
    assert support("Reset it at https://id.example.com [1].", [PASSAGE]) == ("supported", [])
    verdict, missing = support("Get it at https://evil.example.net/fix.exe. [1]", [PASSAGE])
    assert verdict == "unverified" and missing == ["https://evil.example.net/fix.exe"]
    assert support("See www.evil.example.net [1].", [PASSAGE])[0] == "unverified"


def test_only_urls_the_passages_hold_stay_links():
    shown = unlinked(
        "At https://id.example.com, [the portal](https://id.example.com) or "
        "[the fix](https://evil.example.net/fix.exe), www.evil.example.net and "
        "<https://evil.example.net>.",
        [PASSAGE],
    )
    assert "At https://id.example.com," in shown and "[the portal](https://id.example.com)" in shown
    assert "the fix (`https://evil.example.net/fix.exe`)" in shown
    assert "`www.evil.example.net`" in shown and "<`https://evil.example.net`>" in shown
    assert "](https://evil" not in shown
    assert unlinked("at https://id.example.com") == "at `https://id.example.com`"  # unchecked


def test_the_chat_shows_an_invented_link_as_text_and_marks_it(env):
    env("badlink")
    reply = ask(start()).chat_message[-1]
    answer = next(m for m in texts(reply.markdown) if "evil.example.net" in m)
    assert "`https://evil.example.net/fix.exe`" in answer  # code: nothing to click
    assert "](https://evil" not in answer
    warned = [w for w in texts(reply.warning) if "evil.example.net" in w]
    assert warned and all("`https://evil.example.net/fix.exe`" in w for w in warned)
