"""Retrieval quality: metric known answers, the hit rule, the labeled set, and the CI gate."""

from __future__ import annotations

import json
import math
import os
import re

import pytest

from evaluation.run import CONFIGS, evaluate
from evaluation.score import is_hit, mrr_at, ndcg_at, recall_at
from evaluation.sets import DEV_SETS, HELD_OUT, Question, all_sets, load_questions
from retrieval.settings import Settings
from retrieval.tokens import language
from retrieval.types import Hit
from tests.conftest import CORPUS, run_cli

SAMPLE = DEV_SETS["sample"]
QA = SAMPLE.questions
FOREIGN = HELD_OUT["foreign"]
# CI sets this: there the held-out set beside the project must be present, never skipped.
REQUIRE_HELD_OUT = os.environ.get("DOCS_QA_REQUIRE_HELD_OUT") == "1"
# Floors per set (R@5, MRR@10), just under the default configuration's figures measured on
# 2026-12-03 (README table). A change that makes retrieval worse than this fails CI.
FLOORS: dict[str, tuple[float, float]] = {
    "sample": (0.98, 0.92),  # measured 1.000 / 0.944
    "helpcentre": (0.97, 0.90),  # 0.990 / 0.927
    "helpcentre-2": (0.96, 0.84),  # 0.978 / 0.864
    "reference": (0.91, 0.84),  # 0.927 / 0.866
    "zh-ops": (0.92, 0.81),  # 0.934 / 0.830
    "mixed": (0.96, 0.79),  # 0.983 / 0.817
    "crossing": (0.86, 0.66),  # 0.882 / 0.689
    "shardingsphere": (0.85, 0.65),  # 0.869 / 0.675
    "zh-notes": (0.90, 0.78),  # 0.924 / 0.807
    "zh-rocketmq": (0.80, 0.65),  # 0.827 / 0.674
    "reference-zh": (0.91, 0.81),  # 0.933 / 0.840
    "foreign": (0.78, 0.64),  # 0.829 / 0.684 (held out: a check, never tuned on)
}
# R@5 per question group (question language > answer page language) where a set has it.
GROUP_FLOORS: dict[str, dict[str, float]] = {
    "sample": {"en>en": 0.97, "zh>zh": 0.97},  # measured 1.0 / 1.0
    "mixed": {"en>en": 0.97, "zh>zh": 0.97, "en>zh": 0.89, "zh>en": 0.95},  # 1, 1, .929, 1
    "crossing": {"en>en": 0.83, "zh>zh": 0.83, "en>zh": 0.92, "zh>en": 0.79},  # .871 .862 .962 .833
    # shardingsphere measured .968 .818 .818 .857
    "shardingsphere": {"en>en": 0.93, "zh>zh": 0.78, "en>zh": 0.77, "zh>en": 0.80},
    "zh-notes": {"zh>zh": 0.95, "en>zh": 0.72},  # .980 .750
    "zh-rocketmq": {"zh>zh": 0.80, "en>zh": 0.80},  # .822 .833
    "reference-zh": {"zh>en": 0.91},  # .933
    "foreign": {"en>en": 0.87, "zh>zh": 0.78, "en>zh": 0.84, "zh>en": 0.62},  # .906 .805 .875 .688
}
# Refusal without a model: at most 2% of answerable questions refused on any set; the weak
# flag (or a refusal) on a share of the unanswerable ones across the sets (measured 0.60).
REFUSE_ANSWERABLE_CEILING = 0.02
FLAG_UNANSWERABLE_MEAN_FLOOR = 0.5


# The gate in `make test` (and so in CI): the held-out set and one set of ours per shape that
# decides most (Chinese ops docs, cross-language topics, English FAQ pages). `make gate` holds
# every set to its floors (DOCS_QA_FULL_GATE=1): about twice the time.
TEST_GATE = ("foreign", "zh-ops", "crossing", "helpcentre")
FULL_GATE = os.environ.get("DOCS_QA_FULL_GATE") == "1"


def gate_sets():
    """The sets the gate runs (all of them with DOCS_QA_FULL_GATE=1), the held-out one where
    it is present (required in CI)."""
    present = all_sets()
    if "foreign" not in present and REQUIRE_HELD_OUT:
        raise AssertionError(f"the held-out set is missing: {FOREIGN.questions}")
    return [s for name, s in present.items() if FULL_GATE or name in TEST_GATE]


def test_metric_known_answers():
    flags = [False, True, False, True]
    assert recall_at(flags, 1) == 0.0 and recall_at(flags, 2) == 1.0
    assert mrr_at(flags, 10) == 0.5 and mrr_at(flags, 1) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert ndcg_at(flags, 10, relevant=2) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert ndcg_at([True], 10, relevant=1) == 1.0
    assert ndcg_at([False, False], 10, relevant=0) == 0.0


def q(**kw) -> Question:
    base = {
        "id": "x",
        "question": "?",
        "doc": "a.md",
        "heading": "## Limits",
        "answer_snippet": "EUR 60 per day",
    }
    return Question(**{**base, **kw})


def test_hit_rule():
    assert is_hit(Hit("other.md", "", "meals: EUR  60\nper day", 0.5), q())  # whitespace runs
    assert is_hit(Hit("a.md", "Expenses > Limits", "no snippet", 0.5), q())  # heading metadata
    assert is_hit(Hit("a.md", "Expenses", "intro\n## Limits\nno snippet", 0.5), q())
    assert not is_hit(Hit("b.md", "Expenses > Limits", "no snippet", 0.5), q())
    assert not is_hit(Hit("a.md", "Expenses", "Limits are strict", 0.5), q())
    assert not is_hit(Hit("a.md", "x", "EUR 60 per day", 0.5), q(doc=None, answer_snippet=None))


def section_body(text: str, heading: str) -> str:
    """The lines between a heading line and the next heading line (outside code fences), of
    every section with that heading (a page may repeat one)."""
    lines, body, inside, fence = text.splitlines(), [], heading == "", False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        is_heading = not fence and re.match(r"^ {0,3}#{1,6}( |$)", line)
        if is_heading and inside:
            inside = False
        if line == heading:
            inside = True
        elif inside:
            body.append(line)
    return "\n".join(body)


@pytest.mark.parametrize("name", sorted(DEV_SETS))
def test_dev_set_is_complete_and_true_to_its_corpus(name):
    dev = DEV_SETS[name]
    questions = load_questions(dev.questions)
    ids = [x.id for x in questions]
    answerable = [x for x in questions if x.answerable]
    assert len(ids) == len(set(ids)) and len(answerable) >= 50
    assert len(questions) - len(answerable) >= 8
    squash = lambda text: " ".join(text.split())  # noqa: E731
    pages = [p for p in dev.corpus.rglob("*") if p.suffix in {".md", ".txt"}]
    everything = squash(" ".join(p.read_text("utf-8") for p in pages))
    for x in questions:
        if not x.answerable:
            assert x.heading is None and x.answer_snippet is None, x.id
            continue
        text = (dev.corpus / x.doc).read_text(encoding="utf-8")
        if x.heading is None or x.heading.startswith("title: "):  # a page without headings
            # (plain-text notes), or the text before a page's first heading (front-matter title)
            assert squash(x.answer_snippet) in squash(text), x.id
            continue
        assert x.heading == "" or x.heading in text.splitlines(), x.id
        assert squash(x.answer_snippet) in squash(section_body(text, x.heading)), x.id
        if name != "sample":  # written before the rule; its hits still need the gold section
            assert everything.count(squash(x.answer_snippet)) == 1, x.id


def test_mixed_set_asks_a_quarter_across_languages():
    dev = DEV_SETS["mixed"]
    questions = [x for x in load_questions(dev.questions) if x.answerable]
    doc_lang = {x.doc: language((dev.corpus / x.doc).read_text("utf-8")) for x in questions}
    cross = [x for x in questions if doc_lang[x.doc] != x.lang]
    assert len(cross) >= len(questions) / 4
    assert {language(x.question) for x in cross} == {"en", "zh"}


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """The default and the tutorial baseline on every set, measured once."""
    settings = Settings(_env_file=None, store_uri=str(tmp_path_factory.mktemp("gate") / "x.db"))
    configs = {name: CONFIGS[name] for name in ("default", "baseline")}
    figures, _ = evaluate(gate_sets(), configs, 10, settings)
    print(json.dumps(figures))
    return figures


def test_the_held_out_set_is_in_the_gate(gate):
    if "foreign" not in gate:
        pytest.skip(f"no held-out set here ({FOREIGN.questions} is absent: a user's own clone)")
    assert gate["foreign"]["default"]["all"]["questions"] == 115


@pytest.mark.parametrize("name", sorted(FLOORS) if FULL_GATE else sorted(TEST_GATE))
def test_default_beats_the_tutorial_pipeline_and_holds_its_floors(gate, name):
    if name not in gate:
        pytest.skip(f"{name} is not in this gate (`make gate` runs every set; the held-out one "
                    "needs ../shared)")  # fmt: skip
    default, baseline = gate[name]["default"], gate[name]["baseline"]
    for metric in ("recall@5", "mrr@10"):
        assert default["all"][metric] >= baseline["all"][metric], (metric, default, baseline)
    recall_floor, mrr_floor = FLOORS[name]
    assert default["all"]["recall@5"] >= recall_floor, default
    assert default["all"]["mrr@10"] >= mrr_floor, default


def test_refusal_never_hides_an_answer_and_weak_matches_are_flagged(gate):
    default = {name: figures["default"]["all"] for name, figures in gate.items()}
    for name, f in default.items():
        assert f["refused_answerable"] <= REFUSE_ANSWERABLE_CEILING, (name, f)
        assert f["e2e@5"] >= f["recall@5"] - REFUSE_ANSWERABLE_CEILING, (name, f)
    mean = sum(f["weak_unanswerable"] for f in default.values()) / len(default)
    assert mean >= FLAG_UNANSWERABLE_MEAN_FLOOR, default


def test_language_and_cross_language_floors(gate):
    for name, floors in GROUP_FLOORS.items():
        if name not in gate:
            continue
        groups = gate[name]["default"]
        for group, floor in floors.items():
            assert groups[group]["recall@5"] >= floor, (name, group, groups[group])


def test_cli_json_report_and_per_question_output(tmp_path):
    small = tmp_path / "qa.jsonl"
    lines = QA.read_text(encoding="utf-8").splitlines()
    small.write_text("\n".join(lines[:3] + lines[-1:]) + "\n", encoding="utf-8")
    out, page = tmp_path / "per_question.jsonl", tmp_path / "report.md"
    page.write_text("# Title\n\n<!-- eval:start -->\nSTALE-TABLE\n<!-- eval:end -->\n\nkept\n")
    result = run_cli(
        "-m", "evaluation", "--corpus", str(CORPUS), "--qa", str(small), "--k", "5",
        "--config", "dense", "--config", "baseline", "--with", "top_k=3",
        "--out", str(out), "--json", "--report", str(page),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)["custom"]
    assert set(figures) == {"dense", "baseline", "custom"}
    groups = figures["dense"]
    assert {"all", "lang=en", "lang=zh"} <= set(groups)  # the last question is in Chinese
    assert {"recall@1", "recall@5", "mrr@5", "ndcg@5", "refused_unanswerable"} <= set(groups["all"])
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12
    assert {"set", "id", "config", "question", "hits", "refused", "weak", "signals"} <= set(rows[0])
    assert set(rows[0]["hits"][0]) == {"doc", "heading", "text", "score"}
    assert not rows[0]["hits"][0]["doc"].startswith("/")
    assert len(rows[0]["hits"]) == 5
    text = page.read_text()
    assert (
        text.startswith("# Title") and text.rstrip().endswith("kept") and "STALE-TABLE" not in text
    )
    assert "| dense |" in text and "### custom" in text


def test_bad_override_and_half_custom_set_are_one_line_errors():
    result = run_cli("-m", "evaluation", "--with", "no_such_setting=1")
    assert result.returncode == 2 and "no_such_setting" in result.stderr
    result = run_cli("-m", "evaluation", "--corpus", str(CORPUS))
    assert result.returncode == 2 and "--corpus and --qa go together" in result.stderr


def test_a_set_scored_within_one_knowledge_base(tmp_path):
    """--knowledge it: the questions about the it base (and the unanswerable ones), searched
    only in it; a base the set does not have is a one-line error."""
    out = tmp_path / "rows.jsonl"
    questions = load_questions(QA)
    result = run_cli(
        "-m", "evaluation", "--corpus", str(CORPUS), "--qa", str(QA), "--k", "5",
        "--config", "dense", "--knowledge", "it", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    about_it = [q for q in questions if q.doc is None or q.doc.startswith("it/")]
    assert len(rows) == len(about_it) < len(questions)
    assert all(h["doc"].startswith("it/") for row in rows for h in row["hits"])
    answerable = [row for row in rows if row["answerable"]]
    assert answerable and sum(row["first_hit"] is not None for row in answerable) >= 0.8 * len(
        answerable
    )
    result = run_cli(
        "-m", "evaluation", "--corpus", str(CORPUS), "--qa", str(QA), "--config", "dense",
        "--knowledge", "no-such-base",
    )  # fmt: skip
    assert result.returncode == 2 and "no knowledge base 'no-such-base'" in result.stderr


def test_query_model_rows_for_the_default_or_the_configs_named():
    from argparse import Namespace

    from evaluation.__main__ import _helped

    def asked(configs=None, overrides=(), query_model=True):
        return _helped(
            Namespace(configs=configs, overrides=list(overrides), query_model=query_model)
        )

    assert asked() == {"default"}  # every configuration runs offline, the default with a model
    assert asked(["e5-hybrid", "rrf"]) == {"e5-hybrid", "rrf"}
    assert asked(overrides=["top_k=3"]) == {"default", "custom"}
    assert asked(query_model=False) == frozenset()
