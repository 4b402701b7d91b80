"""The doc-gap report: a made-up week of chats written through the real chat store, grouped by
the real offline embedders; who may see names and closed documents; the CSV the command writes
and the eval questions the eval command reads back."""

from __future__ import annotations

import csv
import itertools
import sqlite3
from dataclasses import replace
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from accounts import gaps
from accounts.chats import NO_SOURCE, ChatStore, source_key
from evaluation.sets import load_questions
from retrieval.answer import Answer, Source
from retrieval.embeddings import BLEND_OFFLINE, BlendEmbedder, UseOffline
from tests.conftest import run_cli

NOW = datetime(2025, 3, 14, 12, 0).timestamp()
DAY = 86_400
OPEN = Source(1, "hr/leave.md", "Annual leave", 0.41, "Staff get 27 days a year.")
CLOSED = Source(2, "private/salaries.md", "Band K", 0.38, "Band K pays 91,500 euros.")
VPN = Source(1, "it/vpn.md", "Password reset", 0.92, "Reset it at id.example.com.")
VACATION = "how many vacation days do I get"
LEAVE = ["how much annual leave do I have", "How many days of paid holiday am I entitled to?",
         "年假有几天"]  # fmt: skip
ADMIN = gaps.Viewer(admin=True, readable=None)


def refused(*looked_at: tuple[str, str]) -> Answer:
    return Answer("The docs do not say.", status="refused", weak_match=True, looked_at=looked_at)


def weak(*sources: Source) -> Answer:
    return Answer("Perhaps 27 days [1].", sources=list(sources), weak_match=True)


def answered(*sources: Source) -> Answer:
    return Answer("27 days [1].", sources=list(sources))


def ask(store: ChatStore, user: str, question: str, answer: Answer, days_ago: float, kb=()):
    """One exchange in a chat of its own, asked `days_ago` before NOW: (chat, message)."""
    chat = store.create(user, question)
    message = store.add_message(user, chat.id, question, replace(answer, knowledge=kb))
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE messages SET created = ? WHERE id = ?", (NOW - days_ago * DAY, message))
    return chat.id, message


def thumbs_down(store: ChatStore, user: str, message: int, pick: str, days_ago: float) -> None:
    store.give_feedback(user, message, 0, "", pick)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE feedback SET created = ? WHERE message = ?", (NOW - days_ago * DAY,
                                                                          message))  # fmt: skip


@pytest.fixture()
def week(tmp_path) -> ChatStore:
    """Four people's week: the leave question in four wordings and two languages, parking in
    two, a dog refused and marked "none of these", a deleted chat's feedback; answered
    questions and a better source picked (not gaps); an old refusal before the week."""
    store = ChatStore(tmp_path / "chats.sqlite")
    ask(store, "bo", VACATION, refused(), 6)
    ask(store, "cy", "how much annual leave do I have", weak(OPEN, CLOSED), 5, ("hr",))
    _, holiday = ask(store, "dee", "How many days of paid holiday am I entitled to?",
                     answered(OPEN), 4)  # fmt: skip
    thumbs_down(store, "dee", holiday, NO_SOURCE, 4)
    ask(store, "bo", "年假有几天", refused(), 3)
    ask(store, "bo", VACATION, refused(), 2)  # asked again
    ask(store, "ana", "is there parking at the office", refused(("office/map.md", "Car park")), 2)
    ask(store, "cy", "where can I park my car at work", weak(CLOSED), 1.5)
    _, dog = ask(store, "dee", "can I bring my dog to the office", refused(), 1)
    thumbs_down(store, "dee", dog, NO_SOURCE, 1)  # refused and "none of these": once
    ask(store, "ana", "how do I reset my VPN password", answered(VPN), 3)
    _, vpn = ask(store, "bo", "how do I reset my VPN password", answered(VPN), 2)
    thumbs_down(store, "bo", vpn, source_key("it/vpn.md", "Tokens"), 2)  # a better page
    gone, wifi = ask(store, "eve", "what is the guest wifi password", answered(VPN), 2.5)
    thumbs_down(store, "eve", wifi, NO_SOURCE, 2.5)
    store.delete("eve", gone)  # the admin keeps what was sent
    ask(store, "cy", "how do I claim travel expenses", refused(), 12)
    return store


@pytest.fixture(scope="module")
def blend(e5, embedder) -> BlendEmbedder:
    """The app's default embedder, from the session's models."""
    return BlendEmbedder(BLEND_OFFLINE, [e5, embedder, UseOffline()])


def last_week(store: ChatStore, embedder, viewer=ADMIN) -> list[gaps.Gap]:
    since, until = gaps.period(None, None, 7, now=NOW)
    return gaps.find_gaps(store, embedder, since, until, viewer)


def test_paraphrases_group_across_wording_and_language_and_unrelated_ones_do_not(week, blend):
    leave, parking, dog, wifi = last_week(week, blend)
    assert leave.question == VACATION  # the most asked wording
    assert set(leave.questions) == {VACATION, *LEAVE}
    assert leave.count == 5 and leave.askers == 3 and leave.names == ("bo", "cy", "dee")
    assert leave.reasons == {"refused": 3, "weak": 1, "none_of_these": 1}
    assert leave.languages == ("en", "zh") and leave.knowledge == (gaps.ALL_BASES, "hr")
    assert leave.closest == {"hr/leave.md › Annual leave": 2, "private/salaries.md › Band K": 1}
    assert (leave.first_seen, leave.last_seen) == (NOW - 6 * DAY, NOW - 2 * DAY)
    assert set(parking.questions) == {"is there parking at the office",
                                      "where can I park my car at work"}  # fmt: skip
    assert parking.closest["office/map.md › Car park"] == 1  # what a refusal looked at
    assert dog.count == 1 and dog.reasons == {"refused": 1, "none_of_these": 1}
    assert wifi.questions == ("what is the guest wifi password",) and wifi.names == ("eve",)
    assert wifi.closest == {"it/vpn.md › Password reset": 1}  # from the feedback's copy


def test_the_period_decides_what_is_in(week, embedder):
    def questions(since, until) -> set[str]:
        found = gaps.find_gaps(week, embedder, *gaps.period(since, until, now=NOW), ADMIN)
        return {q for gap in found for q in gap.questions}

    today = date.fromtimestamp(NOW)
    assert "how do I claim travel expenses" not in questions(None, None)  # 12 days ago
    assert "how do I claim travel expenses" in questions(today - timedelta(days=14), None)
    assert questions(today - timedelta(days=12), today - timedelta(days=12)) == {
        "how do I claim travel expenses"
    }
    with pytest.raises(ValueError, match="after it ends"):
        gaps.period(today, today - timedelta(days=1))


def test_names_only_for_an_admin_who_shows_them(week, embedder):
    for viewer in (gaps.Viewer(admin=False, readable=None),
                   gaps.Viewer(admin=True, readable=None, show_names=False)):  # fmt: skip
        found = last_week(week, embedder, viewer)
        assert found and all(gap.names == () for gap in found)
        assert sum(gap.askers for gap in found) >= 5  # how many asked is still said
        assert "dee" not in gaps.csv_text(found)
    assert "dee" in gaps.csv_text(last_week(week, embedder))


def test_closed_documents_are_never_listed_to_a_viewer_who_may_not_read_them(week, embedder):
    staff = gaps.Viewer(admin=False, readable=frozenset({"hr/leave.md", "it/vpn.md"}))
    found = last_week(week, embedder, staff)
    listed = {doc for gap in found for doc in gap.closest}
    assert "hr/leave.md › Annual leave" in listed
    assert not any("salaries" in doc for doc in listed)
    assert "salaries" not in gaps.csv_text(found)
    assert any("salaries" in doc for gap in last_week(week, embedder) for doc in gap.closest)


def test_an_english_only_model_leaves_chinese_questions_alone(tmp_path, embedder):
    store = ChatStore(tmp_path / "chats.sqlite")
    for question in ("年假有几天", "公司有停车位吗", "我有多少天年假"):
        ask(store, "bo", question, refused(), 1)
    assert [gap.count for gap in last_week(store, embedder)] == [1, 1, 1]  # MiniLM: [UNK]s


def test_average_link_does_not_chain_two_topics_through_one_pair():
    sims = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.75], [0.2, 0.75, 1.0]])
    assert gaps.average_link(sims, 0.7) == [[0, 1], [2]]  # single link would chain 0-1-2
    assert gaps.average_link(sims, 0.4) == [[0, 1, 2]]
    assert gaps.grouping_for("e5-offline", 0.5).threshold == 0.5
    assert gaps.grouping_for("openai-compatible:bge-m3") == gaps.DEFAULT_GROUPING


def naive_average_link(sims: np.ndarray, threshold: float) -> list[list[int]]:
    """The textbook loop: recompute every pair of groups' mean each step."""
    groups = [[i] for i in range(len(sims))]
    while len(groups) > 1:
        pairs = itertools.combinations(range(len(groups)), 2)
        a, b = max(pairs, key=lambda p: sims[np.ix_(groups[p[0]], groups[p[1]])].mean())
        if sims[np.ix_(groups[a], groups[b])].mean() < threshold:
            break
        groups[a] += groups.pop(b)
    return groups


def test_average_link_agrees_with_the_textbook_loop():
    rng = np.random.default_rng(7)
    for n in range(1, 40, 3):
        vectors = rng.normal(size=(n, 8))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        sims = vectors @ vectors.T
        sims[0, :] = sims[:, 0] = -np.inf  # a question the model cannot read stays alone
        threshold = rng.uniform(0.0, 0.5)
        ours = sorted(sorted(g) for g in gaps.average_link(sims, threshold))
        assert ours == sorted(sorted(g) for g in naive_average_link(sims, threshold))


def test_a_gap_made_eval_question_is_kept_and_read_by_the_eval_command(week, blend, tmp_path):
    leave, _, dog, _ = last_week(week, blend)
    gaps.keep_eval_question(week, "ana", leave, "hr/leave.md", "Sick leave")
    kept = gaps.keep_eval_question(week, "ana", leave, " hr/leave.md ", "## Annual leave")
    gaps.keep_eval_question(week, "ana", dog, None, "ignored without a page")
    assert [q.question for q in week.gap_questions()] == [VACATION, dog.question]  # replaced
    assert kept.heading == "## Annual leave" and "asked 5 time(s)" in kept.comment
    out = tmp_path / "gaps.jsonl"
    out.write_text(gaps.eval_jsonl(week.gap_questions()), encoding="utf-8")
    loaded = {q.question: q for q in load_questions(out)}
    assert loaded[VACATION].doc == "hr/leave.md" and loaded[VACATION].heading == "## Annual leave"
    assert loaded[VACATION].lang == "en" and loaded[VACATION].id == f"gap-{kept.id}"
    assert not loaded[dog.question].answerable and loaded[dog.question].heading is None
    reopened = ChatStore(week.path)  # one click is kept
    assert [q.doc for q in reopened.gap_questions()] == ["hr/leave.md", None]


def test_the_command_writes_the_csv_and_the_eval_questions(week, tmp_path):
    week.keep_gap_question("ana", "年假有几天", "hr/leave.md", None, "from the page")
    out, questions = tmp_path / "gaps.csv", tmp_path / "questions.jsonl"
    args = ["-m", "app.feedback", "gaps", "--out", str(out), "--db", str(week.path), "--since",
            "2025-03-01", "--until", "2025-03-14", "--eval-out", str(questions)]  # fmt: skip
    result = run_cli(*args, env={"RAG_EMBEDDING_MODEL": BLEND_OFFLINE})
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    assert list(rows[0]) == list(gaps.COLUMNS)
    assert rows[0]["question"] == VACATION and rows[0]["count"] == "5"
    assert "年假有几天" in rows[0]["other questions"].splitlines()
    assert rows[0]["askers"] == "3: bo, cy, dee" and "refused ×3" in rows[0]["reasons"]
    assert any(row["question"] == "how do I claim travel expenses" for row in rows)
    [made] = load_questions(questions)
    assert made.question == "年假有几天" and made.lang == "zh" and made.doc == "hr/leave.md"
    hidden = run_cli(*args, "--hide-names", env={"RAG_EMBEDDING_MODEL": BLEND_OFFLINE})
    assert hidden.returncode == 0 and "dee" not in out.read_text(encoding="utf-8-sig")


def test_the_command_fails_cleanly(tmp_path):
    result = run_cli("-m", "accounts.feedback", "gaps", "--out", str(tmp_path / "g.csv"),
                     "--db", str(tmp_path / "c.sqlite"), "--since", "2025-03-14",
                     "--until", "2025-03-01")  # fmt: skip
    assert result.returncode == 2 and "error: the period starts" in result.stderr
    bad = run_cli("-m", "accounts.feedback", "gaps", "--out", "g.csv", "--since", "14/03/2025")
    assert bad.returncode == 2 and "use YYYY-MM-DD" in bad.stderr
    assert "Traceback" not in result.stderr + bad.stderr


def test_a_question_typed_as_a_formula_stays_text_in_a_spreadsheet(tmp_path, embedder):
    store = ChatStore(tmp_path / "chats.sqlite")
    ask(store, "bo", '=HYPERLINK("http://evil.example","leave")', refused(), 1)
    [row] = list(csv.DictReader(gaps.csv_text(last_week(store, embedder)).splitlines()))
    assert row["question"].startswith("'=HYPERLINK")
