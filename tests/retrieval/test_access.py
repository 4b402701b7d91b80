"""Access groups: a user of group A never gets a chunk from a group-B folder, through any
path (search, answer, follow-up, section, status); a changed `.access` takes effect on the
next sync without re-embedding; a broken one closes its folder to all but admins."""

from __future__ import annotations

import pytest

from ingest.pipeline import ingest
from retrieval.access import ALL, Access
from retrieval.answer import Turn, answer_question
from retrieval.llm import open_chat
from retrieval.search import Retriever
from retrieval.store import Store
from tests.conftest import chat_settings, make_settings

SECRET = "The Zephyr bonus pool for 2026 is 412,000 euros, paid out in March."
QUESTIONS = [  # each answered only by the closed folder
    "How big is the Zephyr bonus pool for 2026?",
    "When is the Zephyr bonus paid out?",
    "Zephyr bonus pool 412,000 euros",
    "Zephyr 奖金池有多少？",
]
IT = Access.of(["it"])


@pytest.fixture()
def tree(tmp_path, embedder):
    docs = tmp_path / "docs"
    (docs / "hr" / "pay").mkdir(parents=True)
    (docs / "finance").mkdir()
    (docs / "public.md").write_text("# Office\n\n## Bonus questions\n\nAsk HR about bonuses.\n")
    (docs / "it.md").write_text("# IT\n\n## Laptops\n\nLaptops are replaced every 4 years.\n")
    (docs / "hr" / ".access").write_text("# pay data\nhr, payroll\n")
    (docs / "hr" / "pay" / "bonus.md").write_text(f"# Zephyr bonus\n\n## Pool\n\n{SECRET}\n")
    (docs / "finance" / ".access").write_text("finance; accounting!\n")  # bad syntax
    (docs / "finance" / "budget.md").write_text("# Budget\n\n## Zephyr budget\n\nIt is 9M.\n")
    settings = make_settings(tmp_path, docs, search_mode="hybrid")
    store = Store(settings)
    report = ingest(settings, store, embedder)
    yield settings, store, Retriever(settings, store, embedder), report, docs
    store.close()


def hit_docs(retriever, question, access) -> set[str]:
    found = retriever.retrieve(question, 20, access=access)
    return {h.doc for h in [*found.hits, *found.dense, *found.lexical]}


def test_a_closed_folder_never_reaches_another_group(tree):
    settings, store, retriever, report, _ = tree
    for question in QUESTIONS:
        assert "hr/pay/bonus.md" not in hit_docs(retriever, question, IT), question
        assert "hr/pay/bonus.md" in hit_docs(retriever, question, Access.of(["payroll"]))
        assert "hr/pay/bonus.md" in hit_docs(retriever, question, ALL)  # admins see all
    assert store.section("hr/pay/bonus.md", None, access=IT).passages == []
    assert store.section("hr/pay/bonus.md", None, access=ALL).passages
    assert store.counts(access=IT) == (2, 2) and store.counts(access=ALL)[0] == 4
    assert "hr/pay/bonus.md" in {d for d, _ in [(h.doc, 0) for h in store.passages()]}


def test_answers_and_follow_ups_never_carry_it(tree, fake_llm):
    settings, _, retriever, _, _ = tree
    chat_conf = chat_settings(retriever, fake_llm, "chat", weak_standout=0)
    chat = open_chat(chat_conf)
    fake_llm.requests.clear()
    for question in QUESTIONS:
        events = list(answer_question(question, [], retriever, chat, chat_conf, 10, access=IT))
        assert all("hr/pay" not in s.doc for s in events[-1].sources)
    history = [Turn("What is in the office page?", "It says to ask HR about bonuses [1].")]
    events = list(answer_question("And the Zephyr pool?", history, retriever, chat, chat_conf,
                                  10, access=IT))  # fmt: skip
    assert all("hr/pay" not in s.doc for s in events[-1].sources)
    sent = " ".join(m["content"] for r in fake_llm.requests for m in r["messages"])
    assert "paid out in March" not in sent and "Zephyr bonus pool for 2026 is" not in sent


def test_a_broken_access_file_closes_its_folder_and_is_reported(tree):
    _, store, retriever, report, _ = tree
    assert any("finance/.access" in f.error and "closed" in f.error for f in report.docs_failed)
    for access in (IT, Access.of(["finance"]), Access.of(["accounting"])):
        assert "finance/budget.md" not in hit_docs(retriever, "Zephyr budget", access)
    assert "finance/budget.md" in hit_docs(retriever, "Zephyr budget", ALL)


def test_changing_groups_takes_effect_without_re_embedding(tree, embedder):
    settings, store, retriever, _, docs = tree
    (docs / "hr" / ".access").write_text("hr payroll it\n")
    report = ingest(settings, store, embedder)
    assert report.docs_updated == 1 and report.chunks_embedded == 0
    assert "hr/pay/bonus.md" in hit_docs(retriever, QUESTIONS[0], IT)
    (docs / "hr" / ".access").unlink()  # no file up the tree: open to everyone
    ingest(settings, store, embedder)
    assert "hr/pay/bonus.md" in hit_docs(retriever, QUESTIONS[0], Access.of([]))


def test_unknown_groups_close_the_folder(tmp_path, embedder):
    docs = tmp_path / "docs"
    (docs / "ops").mkdir(parents=True)
    (docs / "ops" / ".access").write_text("opps\n")  # a typo of 'ops'
    (docs / "ops" / "runbook.md").write_text("# Runbook\n\n## Restart\n\nRestart the Kestrel.\n")
    settings = make_settings(tmp_path, docs, known_groups=["ops", "hr"])
    store = Store(settings)
    report = ingest(settings, store, embedder)
    assert any("unknown groups ['opps']" in f.error for f in report.docs_failed)
    retriever = Retriever(settings, store, embedder)
    assert (
        retriever.search("How do I restart the Kestrel?", 5, access=Access.of(["ops", "opps"]))
        == []
    )
    store.close()
