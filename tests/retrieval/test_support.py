"""The support check: literal figures and code spans of an answer against what it cites."""

from __future__ import annotations

from retrieval.support import support

PASSAGE = "Full-time staff get 25 days of annual leave. The VPN client is `vpnc`; port 10443."


def test_nothing_cited_is_uncited():
    assert support("You get 25 days.", []) == ("uncited", [])


def test_figures_and_code_must_be_in_a_cited_passage():
    assert support("You get 25 days [1]; connect with `vpnc` on 10443 [1].", [PASSAGE]) == (
        "supported",
        [],
    )
    verdict, missing = support("You get 30 days [1], with `openvpn`.", [PASSAGE])
    assert verdict == "unverified" and missing == ["30", "openvpn"]


def test_list_numbers_markers_and_thousands_are_not_claims():
    answer = "1. Open the client [1].\n2. Use port 10443 [1].\n3. Salary: 91500 [2]."
    assert support(answer, [PASSAGE, "The band pays 91,500 a year."]) == ("supported", [])
    assert support("年假有 25 天[1]。", [PASSAGE]) == ("supported", [])
    assert support("年假有 15 天[1]。", [PASSAGE]) == ("unverified", ["15"])


def test_a_stray_backtick_pairs_nothing():
    assert support("Run `vpnc [1]. It takes 25 days [1].", [PASSAGE]) == ("supported", [])


def test_citation_numbers_alone_are_no_answer():
    assert support("[1]", [PASSAGE]) == ("wordless", [])
    assert support("[1] [2][3].", [PASSAGE, PASSAGE]) == ("wordless", [])
    assert support("1. [1]\n2. [2]", [PASSAGE, PASSAGE]) == ("wordless", [])
    assert support("是的[1]。", [PASSAGE]) == ("supported", [])


def test_a_decline_said_with_a_word_more_or_less_is_a_decline():
    from prompts.templates import CANNOT_ANSWER, CANNOT_ANSWER_ZH, declines

    assert declines(CANNOT_ANSWER) and declines(CANNOT_ANSWER_ZH)
    assert declines("在文档中没有找到这个问题的答案。") and declines(
        "Sorry, I could not find the answer to that in the documents"
    )
    assert not declines("You get 27 days [1]. " * 5 + CANNOT_ANSWER)  # an answer that also hedges
    assert not declines("I could not find the VPN page, but reset it in the portal [1].")
