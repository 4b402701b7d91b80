"""Retrieval evaluation: `python -m retrieval.eval --corpus DIR --qa FILE.jsonl [...]`.

For each configuration it ingests the corpus with the real ingest job (a separate process, as an
admin would run it), runs every question through the real retriever, and reports recall@1/3/5/10
(the share of answerable questions with a hit in the top k), MRR@10, nDCG@10, and the refusal
rates at the configured threshold. Metrics are computed here (a few pure functions with
known-answer tests) rather than with ranx, which would add numba and llvmlite for six formulas.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from retrieval.cli import fail_cleanly
from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from retrieval.types import Hit

ROOT = Path(__file__).resolve().parent.parent
CUTOFFS = (1, 3, 5, 10)

#: Named configurations compared side by side: settings overrides for ingest and search.
CONFIGS: dict[str, dict[str, object]] = {
    "default": {},  # whatever the settings say (RAG_* variables, .env)
    "baseline": {"split_mode": "hash", "search_mode": "dense"},  # the tutorial's pipeline
    "headings": {"split_mode": "headings", "search_mode": "dense"},
    "hybrid": {"split_mode": "headings", "search_mode": "hybrid"},
    "hash-hybrid": {"split_mode": "hash", "search_mode": "hybrid"},
}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    doc: str | None
    heading: str | None
    answer_snippet: str | None

    @property
    def answerable(self) -> bool:
        return self.doc is not None


def load_questions(path: Path) -> list[Question]:
    """Read the JSON-lines question file; a malformed line is an error naming its number."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(Question(**{k: row.get(k) for k in Question.__annotations__}))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question record ({exc})") from None
    return questions


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def heading_key(line: str) -> str:
    return squash(line.strip().lstrip("#"))


def is_hit(hit: Hit, q: Question) -> bool:
    """The hit rule: contains the snippet, or is from the gold doc and holds the gold heading."""
    if not q.answerable:
        return False
    if q.answer_snippet and squash(q.answer_snippet) in squash(hit.text):
        return True
    if hit.doc != q.doc or not q.heading:
        return False
    lines = {heading_key(line) for line in hit.text.splitlines()}
    lines |= {heading_key(part) for part in hit.heading.split(" > ")}
    return heading_key(q.heading) in lines


# --- metrics (binary relevance) -------------------------------------------------------------
def first_hit_rank(flags: Sequence[bool]) -> int | None:
    return next((i for i, flag in enumerate(flags, 1) if flag), None)


def recall_at(flags: Sequence[bool], k: int) -> float:
    return 1.0 if any(flags[:k]) else 0.0


def mrr_at(flags: Sequence[bool], k: int) -> float:
    rank = first_hit_rank(flags[:k])
    return 1.0 / rank if rank else 0.0


def ndcg_at(flags: Sequence[bool], k: int, relevant: int) -> float:
    """nDCG with binary gains; `relevant` is how many chunks in the index satisfy the rule."""
    dcg = sum(1.0 / math.log2(i + 1) for i, flag in enumerate(flags[:k], 1) if flag)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(relevant, k) + 1))
    return dcg / ideal if ideal else 0.0


@dataclass
class Scored:
    question: Question
    hits: list[Hit]
    flags: list[bool]
    relevant: int


def summarise(results: Sequence[Scored], min_score: float, k: int) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    figures: dict[str, float] = {}
    for cut in CUTOFFS:
        figures[f"recall@{cut}"] = _mean(recall_at(r.flags, cut) for r in answerable)
    figures[f"mrr@{k}"] = _mean(mrr_at(r.flags, k) for r in answerable)
    figures[f"ndcg@{k}"] = _mean(ndcg_at(r.flags, k, r.relevant) for r in answerable)
    figures["refused_unanswerable"] = _mean(_refused(r, min_score) for r in unanswerable)
    figures["refused_answerable"] = _mean(_refused(r, min_score) for r in answerable)
    figures["questions"] = len(results)
    return figures


def _refused(result: Scored, min_score: float) -> float:
    best = max((h.score for h in result.hits), default=float("-inf"))
    return 1.0 if best < min_score else 0.0


def _mean(values) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


# --- running a configuration ------------------------------------------------------------------
def build_index(corpus: Path, settings: Settings) -> None:
    """Ingest the corpus with the real ingest job (incremental: a rebuilt-alike index is reused)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **_env_for(settings)}
    command = [sys.executable, "-m", "ingest", str(corpus), "--db", settings.store_uri, "--json"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed: {done.stderr.strip().splitlines()[-1:]}")


def _env_for(settings: Settings) -> dict[str, str]:
    fields = ["split_mode", "chunk_tokens", "chunk_overlap_tokens", "min_chunk_tokens"]
    values = {f"RAG_{name.upper()}": str(getattr(settings, name)) for name in fields}
    return {**values, "RAG_EMBEDDING_MODEL": settings.embedding_model}


def run_config(
    name: str, corpus: Path, questions: list[Question], base: Settings, index_dir: Path, k: int
) -> list[Scored]:
    settings = base.updated(store_uri=str(index_dir / f"{name}.db"), **CONFIGS[name])
    build_index(corpus, settings)
    retriever = Retriever(settings)
    chunks = [
        Hit(r["doc"], r["heading"], r["text"], 0.0)
        for r in retriever.store.rows(["id", "doc", "heading", "text"])
    ]
    results = []
    for q in tqdm(questions, desc=name, unit="q", file=sys.stderr):
        hits = retriever.search(q.question, k)
        relevant = sum(is_hit(c, q) for c in chunks)
        results.append(Scored(q, hits, [is_hit(h, q) for h in hits], relevant))
    retriever.close()
    return results


def per_question(name: str, results: list[Scored]) -> list[dict]:
    return [
        {
            "id": r.question.id,
            "config": name,
            "question": r.question.question,
            "hits": [
                {"doc": h.doc, "heading": h.heading, "text": h.text, "score": h.score}
                for h in r.hits
            ],
        }
        for r in results
    ]


def table(figures: dict[str, dict[str, float]], k: int) -> str:
    columns = [f"recall@{c}" for c in CUTOFFS] + [f"mrr@{k}", f"ndcg@{k}"]
    columns += ["refused_unanswerable", "refused_answerable"]
    head = "| config | " + " | ".join(columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    rows = [
        f"| {name} | " + " | ".join(f"{f[c]:.3f}" for c in columns) + " |"
        for name, f in figures.items()
    ]
    return "\n".join([head, rule, *rows])


def evaluate(
    corpus: Path,
    qa: Path,
    configs: list[str],
    k: int,
    base: Settings,
    index_dir: Path | None = None,
) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """Figures per configuration, and the per-question hits."""
    questions = load_questions(qa)
    figures, rows = {}, []
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        folder = index_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in configs:
            results = run_config(name, corpus, questions, base, folder, k)
            figures[name] = summarise(results, base.min_score, k)
            rows += per_question(name, results)
    return figures, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.eval", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("docs_corpus"))
    parser.add_argument("--qa", type=Path, default=Path("tests/data/qa_docs_corpus.jsonl"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--config", action="append", choices=sorted(CONFIGS), dest="configs")
    parser.add_argument("--out", type=Path, help="write per-question hits as JSON lines")
    parser.add_argument("--index-dir", type=Path, help="keep (and reuse) the indexes here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--report", type=Path, help="write a markdown report (date, command)")
    args = parser.parse_args(argv)
    with fail_cleanly(RuntimeError):
        base = load_settings()
        configs = args.configs or list(CONFIGS)
        figures, rows = evaluate(args.corpus, args.qa, configs, args.k, base, args.index_dir)
    if args.out:
        lines = (json.dumps(row, ensure_ascii=False) for row in rows)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.report:
        write_report(args.report, report(figures, args.k, argv))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(table(figures, args.k))
    return 0


def report(figures: dict[str, dict[str, float]], k: int, argv: list[str] | None) -> str:
    """The comparison table as a markdown page, with the date and the command that made it."""
    command = "python -m retrieval.eval " + " ".join(argv if argv is not None else sys.argv[1:])
    described = "\n".join(f"- **{name}**: {_describe(name)}" for name in figures)
    return (
        f"# Retrieval quality\n\nGenerated {time.strftime('%Y-%m-%d %H:%M %Z')} by `{command}` "
        f"(`make eval`).\n\n{table(figures, k)}\n\n{described}\n\n{METRICS_NOTE}\n"
    )


START, END = "<!-- eval:start -->", "<!-- eval:end -->"


def write_report(path: Path, text: str) -> None:
    """Write the report; in a file with eval markers (the README), replace what lies between."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        text = f"{head}{START}\n{text.split(chr(10), 2)[2]}{END}{rest.split(END, 1)[1]}"
    path.write_text(text, encoding="utf-8")


def _describe(name: str) -> str:
    overrides = CONFIGS[name]
    if not overrides:
        return "the current settings (the shipped defaults unless RAG_* variables are set)"
    return ", ".join(f"{key}={value}" for key, value in overrides.items())


METRICS_NOTE = """recall@k: share of answerable questions with at least one hit in the top k.
MRR@10 and nDCG@10 (binary gains; the ideal ranking counts every chunk of the index that satisfies
the hit rule). refused_unanswerable: share of questions the corpus does not answer whose best
passage scores below RAG_MIN_SCORE (higher is better); refused_answerable: share of answerable
questions wrongly refused that way (lower is better). A hit is a chunk containing the answer
snippet, or a chunk of the gold document holding the gold heading (as a line or in its heading
path)."""


if __name__ == "__main__":
    sys.exit(main())
