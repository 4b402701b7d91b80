"""One status per answer: a model's reply that contains the cannot-answer sentence is a decline
(the sentence alone, the passages below, nothing cited), and a decline over a strong match
points at the top passage. Against the real HTTP test server on 127.0.0.1."""

from __future__ import annotations

import pytest

from prompts.templates import (
    CANNOT_ANSWER,
    CANNOT_ANSWER_ZH,
    MAY_HOLD_IT,
    is_warning,
    may_hold_it,
    says_cannot_answer,
)
from retrieval.access import ALL
from retrieval.answer import Answer, answer_question
from retrieval.llm import open_chat
from tests.conftest import chat_settings
from tests.fake_llm import FakeLLM

#: what the small local model did: made-up advice, then the cannot-answer sentence
HEDGE = "Reset the VPN with `vpnfix.exe --all` and wait 45 minutes [1]. " + CANNOT_ANSWER
REPLIES = {
    "hedge": HEDGE,
    "hedge-zh": "请重启电脑 [2]。" + CANNOT_ANSWER_ZH,
    "decline": "Sorry, " + CANNOT_ANSWER.lower(),
}


@pytest.fixture(scope="module")
def scripted():
    """The test server, with dialects that reply with a fixed text."""
    server = FakeLLM()
    base = server.server.RequestHandlerClass

    def output(handler, model, messages):
        return ("", REPLIES[model]) if model in REPLIES else base._output(handler, model, messages)

    server.server.RequestHandlerClass = type("Scripted", (base,), {"_output": output})
    yield server
    server.stop()


def final(retriever, server, dialect, question, **extra) -> Answer:
    settings = chat_settings(retriever, server, dialect, **extra)
    events = answer_question(question, [], retriever, open_chat(settings), settings, access=ALL)
    return list(events)[-1]


def test_an_answer_that_also_declines_is_one_decline(corpus_index, scripted):
    answer = final(corpus_index, scripted, "hedge", "How do I fix the VPN on my laptop?")
    assert answer.status == "refused" and answer.cannot_answer
    assert answer.answer == CANNOT_ANSWER  # the made-up advice is not shown as an answer
    assert answer.sources and not any(s.cited for s in answer.sources)
    assert answer.unsupported == "" and not any("check it" in n for n in answer.notices)
    zh = final(corpus_index, scripted, "hedge-zh", "VPN 连不上怎么办？")
    assert zh.status == "refused" and zh.answer == CANNOT_ANSWER_ZH


def test_a_decline_over_a_strong_match_points_at_the_passage(corpus_index, scripted):
    question = "How many days of annual leave do I get?"
    strong = final(corpus_index, scripted, "decline", question, weak_below=0, weak_standout=0)
    assert strong.status == "refused" and strong.answer == CANNOT_ANSWER
    assert not strong.weak_match and MAY_HOLD_IT.format(n=1) in strong.notices
    weak = final(corpus_index, scripted, "decline", "zzqx vlorp grimble?")
    assert weak.status == "refused" and weak.weak_match
    assert not any(n.startswith("The model found no answer") for n in weak.notices)


def test_an_answer_without_the_sentence_stays_an_answer(corpus_index, scripted):
    answer = final(corpus_index, scripted, "chat", "How many days of annual leave do I get?")
    assert answer.status == "answered" and answer.sources[0].cited


def test_the_sentence_is_found_anywhere_and_the_notice_is_said_plainly():
    assert says_cannot_answer(HEDGE) and says_cannot_answer("好的。" + CANNOT_ANSWER_ZH)
    assert not says_cannot_answer("I could not find the VPN page, but use the portal [1].")
    assert is_warning(may_hold_it("en", 2)) and is_warning(may_hold_it("zh"))
    assert "[2]" in may_hold_it("en", 2)
