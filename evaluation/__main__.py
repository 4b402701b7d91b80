"""Retrieval evaluation over several dev sets: `docs-qa eval [--set NAME ...]`.

Each dev set is a folder of docs plus a JSON-lines file of questions (answerable ones name the
gold doc, heading and a verbatim answer snippet; the others have nulls). For every configuration
(settings overrides) and every set, it ingests the docs with the real ingest pipeline into a
fresh Milvus Lite index, runs every question through the real retriever and the real refusal
rule, and reports recall@1/3/5/10, MRR@10, nDCG@10 and refusal rates, for the whole set and, in
sets that mix languages, per question language and for questions asked in the other language
than the doc that answers them. Vectors are cached per model across configurations (same model,
same text, same vector), so comparing chunkers does not re-embed what they share.
Metrics are a few pure functions with known-answer tests (ranx would add numba and llvmlite).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from evaluation.answers import ANSWER_CONFIGS, answer_table, evaluate_answers
from evaluation.report import answers_report, check_report, report, table, write_report
from evaluation.run import CONFIGS, evaluate, parse_overrides
from evaluation.sets import DEV_SETS, HELD_OUT, DevSet, all_sets, chosen
from retrieval.cli import fail_cleanly
from retrieval.settings import load_settings


def _helped(args: argparse.Namespace) -> frozenset[str]:
    """The configurations scored with the query model too: those asked for by name (and
    'custom'), or the default alone when every configuration runs (the others are there to
    compare offline choices; a model row each would multiply the model calls by nine)."""
    if not args.query_model:
        return frozenset()
    named = set(args.configs or ["default"])
    return frozenset(named | ({"custom"} if args.overrides else set()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__)
    parser.add_argument(
        "--set", action="append", choices=sorted({**DEV_SETS, **HELD_OUT}), dest="sets"
    )
    parser.add_argument("--corpus", type=Path, help="a docs folder of your own (with --qa)")
    parser.add_argument("--qa", type=Path, help="its questions as JSON lines")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS), dest="configs")
    parser.add_argument(
        "--with",
        action="append",
        default=[],
        dest="overrides",
        metavar="SETTING=VALUE",
        help="evaluate one more configuration, 'custom': the settings with these changes",
    )
    parser.add_argument(
        "--knowledge",
        metavar="NAME",
        help="score within one knowledge base: its questions, "
        "searched only in it (the base's name: its top-level folder, or knowledge.toml's)",
    )
    parser.add_argument("--out", type=Path, help="write per-question hits as JSON lines")
    parser.add_argument("--index-dir", type=Path, help="keep the indexes here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--report", type=Path, help="write a markdown report (date, command)")
    parser.add_argument(
        "--answers", action="store_true", help="measure answers end to end (needs a model)"
    )
    parser.add_argument(
        "--model", help="with --answers or --query-model: the configured model (RAG_LLM)"
    )
    parser.add_argument(
        "--query-model",
        action="store_true",
        help="also score the default (or each --config named) with the model writing the "
        "query in the index's other language (rows NAME+model, beside the offline ones)",
    )
    parser.add_argument(
        "--answer-config", action="append", choices=sorted(ANSWER_CONFIGS), dest="answer_configs"
    )
    parser.add_argument("--limit", type=int, help="with --answers: at most N questions a set")
    args = parser.parse_args(argv)
    if args.answers:
        return _answers(args, argv)
    with fail_cleanly():
        sets = _sets(args)
        check_report(args.report)
        configs = {name: CONFIGS[name] for name in (args.configs or CONFIGS)}
        if args.overrides:
            configs["custom"] = parse_overrides(args.overrides)
        settings = load_settings(**({"llm": args.model} if args.model else {}))
        figures, rows = evaluate(
            sets, configs, args.k, settings, args.index_dir, args.knowledge, _helped(args)
        )
    _write_rows(args.out, rows)
    if args.report:
        write_report(args.report, report(figures, configs, args.k, argv))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, by_config in figures.items():
            print(f"\n{name}\n{table(by_config, args.k)}")
    return 0


def _write_rows(out: Path | None, rows: list[dict]) -> None:
    if out:
        lines = (json.dumps(row, ensure_ascii=False) for row in rows)
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _sets(args) -> list[DevSet]:
    if bool(args.corpus) != bool(args.qa):
        raise ValueError("--corpus and --qa go together")
    if args.corpus:
        return [DevSet("custom", args.corpus, args.qa, str(args.corpus))]
    return [chosen(name) for name in (args.sets or all_sets())]


def _answers(args, argv) -> int:
    with fail_cleanly():
        settings = load_settings(**({"llm": args.model} if args.model else {}))
        if not settings.llm:
            raise ValueError("--answers needs a model: --model NAME or RAG_LLM")
        check_report(args.report, "answers")
        configs = {n: ANSWER_CONFIGS[n] for n in (args.answer_configs or ANSWER_CONFIGS)}
        with tempfile.TemporaryDirectory(prefix="rag-answers-") as tmp:
            folder = args.index_dir or Path(tmp)
            figures, rows = evaluate_answers(_sets(args), configs, settings, folder, args.limit)
    model = settings.model_entry().model or settings.llm
    _write_rows(args.out, rows)
    if args.report:
        write_report(args.report, answers_report(figures, model, argv), span="answers")
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, by_config in figures.items():
            print(f"\n{name}\n{answer_table(by_config)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
