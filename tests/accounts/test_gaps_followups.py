"""A follow-up the docs fell short on is reported as the standalone question it was searched as,
grouped with the same question asked outright, with the words typed kept as "asked as"."""

from __future__ import annotations

from dataclasses import replace

from accounts import gaps
from accounts.chats import ChatStore
from tests.accounts.test_gaps import ADMIN, NOW, ask, refused

CARRY = "How many vacation days can I carry over to next year?"
FOLLOW_UP = "And how many can I carry over?"


def test_a_follow_up_is_grouped_by_its_standalone_question(tmp_path, embedder):
    store = ChatStore(tmp_path / "chats.sqlite")
    ask(store, "bo", CARRY, replace(refused(), query=CARRY), 1)
    ask(store, "cy", FOLLOW_UP, replace(refused(), query=CARRY), 2)
    ask(store, "di", "Can I bring my dog?", refused(), 3)  # stored without a query: as typed
    items = gaps.gap_items(store, NOW - 7 * 86_400, NOW)
    assert [(i.question, i.asked) for i in items] == [
        ("Can I bring my dog?", ""), (CARRY, FOLLOW_UP), (CARRY, "")
    ]  # fmt: skip
    found = gaps.find_gaps(store, embedder, NOW - 7 * 86_400, NOW, ADMIN)
    assert [(g.question, g.count, g.asked_as) for g in found] == [
        (CARRY, 2, (FOLLOW_UP,)), ("Can I bring my dog?", 1, ())
    ]  # fmt: skip
    row = gaps.table_rows(found)[0]
    assert row["question"] == CARRY and row["asked as"] == FOLLOW_UP
    assert FOLLOW_UP in gaps.csv_text(found) and list(row) == list(gaps.COLUMNS)
