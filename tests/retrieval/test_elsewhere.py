"""Another base has it: when the bases picked match a question only weakly and another base the
asker may read matches it strongly, the answer names that base (chat, API, MCP, ask --json)."""

from __future__ import annotations

from retrieval.access import ALL, Access
from retrieval.answer import Answer, answer_question
from server.api import completion

LEAVE = "Who approves my leave request?"  # in the HR handbook; IT help matches it weakly


def final(retriever, question: str, access: Access) -> Answer:
    events = answer_question(question, [], retriever, None, retriever.settings, access=access)
    return list(events)[-1]


def test_a_weak_pick_names_the_base_with_a_strong_match(corpus_index):
    weak = final(corpus_index, LEAVE, ALL.within(["it"]))
    assert weak.weak_match and weak.elsewhere == "hr"
    assert weak.as_dict()["elsewhere"] == "hr"
    assert completion(weak, "retrieval-only", "r1")["elsewhere"] == "hr"  # the API's field


def test_nothing_is_named_when_the_pick_is_right_or_absent(corpus_index):
    assert final(corpus_index, LEAVE, ALL.within(["hr"])).elsewhere == ""
    assert final(corpus_index, LEAVE, ALL).elsewhere == ""  # nothing picked: all were searched
