"""The report: a markdown table per set (a row per configuration and question group), written
on its own or between the eval markers of a page (docs/evaluation.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from evaluation.answers import ANSWER_NOTE, AnswerFigures, answer_table
from evaluation.run import Figures
from evaluation.score import CUTOFFS
from evaluation.sets import DEV_SETS, HELD_OUT


def columns(k: int) -> list[str]:
    return [f"recall@{c}" for c in CUTOFFS] + [
        f"mrr@{k}",
        f"ndcg@{k}",
        "page@5",
        "context",
        "e2e@5",
        "refused_answerable",
        "weak_answerable",
        "refused_unanswerable",
        "weak_unanswerable",
    ]


def table(by_config: dict[str, dict[str, dict[str, float]]], k: int) -> str:
    """One markdown table: a row per configuration (and per question group when there are any)."""
    cols = columns(k)
    head = "| config | questions | " + " | ".join(cols) + " |"
    rule = "|---|---|" + "---|" * len(cols)
    rows = []
    for name, groups in by_config.items():
        for group, f in groups.items():
            label = name if group == "all" else f"{name} ({group})"
            values = " | ".join(f"{f[c]:.3f}" for c in cols)
            rows.append(f"| {label} | {int(f['questions'])} | {values} |")
    return "\n".join([head, rule, *rows])


def report(figures: Figures, configs: dict[str, dict[str, object]], k: int, argv) -> str:
    """Every set's table as a markdown page, with the date and the command that made it."""
    command = "python -m evaluation " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [
        f"# Retrieval quality\n\nGenerated {time.strftime('%Y-%m-%d %H:%M %Z')} by "
        f"`{command.strip()}` (`make eval`; with the model's rows, `make eval-model`)."
    ]
    for name, by_config in figures.items():
        known = {**DEV_SETS, **HELD_OUT}
        about = known[name].about if name in known else name
        parts.append(f"### {name}: {about}\n\n{table(by_config, k)}")
    described = "\n".join(f"- **{name}**: {_describe(configs[name])}" for name in configs)
    if any(name.endswith("+model") for by_config in figures.values() for name in by_config):
        described += (
            "\n- **NAME+model**: the same index searched with the configured chat model "
            "writing the question in the index's other language (`--query-model`)"
        )
    parts += [described, METRICS_NOTE]
    return "\n\n".join(parts) + "\n"


def check_report(path: Path | None, span: str = "eval") -> None:
    """Before a long run: the page to write is new, empty or has the span's markers."""
    if path is None or not path.exists():
        return
    current = path.read_text(encoding="utf-8")
    start, end = f"<!-- {span}:start -->", f"<!-- {span}:end -->"
    if current.strip() and not (start in current and end in current):
        raise ValueError(f"{path} has text but no {start} ... {end} markers: not overwritten")


def write_report(path: Path, text: str, span: str = "eval") -> None:
    """Write the report: a new page, or in a page with the span's markers (`<!-- eval:start
    -->` ... `<!-- eval:end -->`, or `answers`) what lies between them, title line aside. A
    page that has text but not these markers is left alone (an error says so)."""
    START, END = f"<!-- {span}:start -->", f"<!-- {span}:end -->"  # noqa: N806
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        text = f"{head}{START}\n{text.split(chr(10), 2)[2]}{END}{rest.split(END, 1)[1]}"
    else:
        check_report(path, span)
    path.write_text(text, encoding="utf-8")


def answers_report(figures: AnswerFigures, model: str, argv) -> str:
    """Every set's answer table as a markdown page, with the model, date and command."""
    command = "python -m evaluation " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [
        f"# Answers\n\nModel `{model}`; generated {time.strftime('%Y-%m-%d %H:%M %Z')} by "
        f"`{command.strip()}`."
    ]
    known = {**DEV_SETS, **HELD_OUT}
    for name, by_config in figures.items():
        about = known[name].about if name in known else name
        parts.append(f"#### {name}: {about}\n\n{answer_table(by_config)}")
    return "\n\n".join([*parts, ANSWER_NOTE]) + "\n"


def _describe(overrides: dict[str, object]) -> str:
    if not overrides:
        return "the current settings (the shipped defaults unless RAG_* variables are set)"
    return ", ".join(f"{key}={value}" for key, value in overrides.items())


METRICS_NOTE = """recall@k: share of answerable questions with at least one hit in the top k.
MRR@10 and nDCG@10 (binary gains; the ideal ranking counts every chunk of the index that satisfies
the hit rule). e2e@5: answerable questions that are not refused and have a hit in the top 5
(without a model; with one, only an empty retrieval is refused, so e2e@5 is recall@5).
page@5: the gold page is among the top 5, whichever section (page-level recall beside the
passage-level recall@5). context: context recall, the answer snippet is inside the passages the
model would be given (the top k as the answer pipeline builds its prompt, at its budget).
refused_answerable / refused_unanswerable: share refused flatly without a model (lower / higher
is better); weak_answerable / weak_unanswerable: share flagged "the documents may not answer
this" or refused (lower / higher is better). A hit is a chunk containing the answer snippet, or
a chunk of the gold document holding the gold heading (as a line or in its heading path).
Groups: lang=xx is the questions asked in that language (with its unanswerable ones); xx>yy is
the answerable questions asked in xx whose answer is in a yy page; cross-language is both
cross directions plus the unanswerable questions."""
