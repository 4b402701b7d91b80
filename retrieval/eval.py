"""Retrieval evaluation over several dev sets: `python -m retrieval.eval [--set NAME ...]`.

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
import math
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from retrieval.cli import fail_cleanly
from retrieval.jobs import run_ingest_job
from retrieval.refusal import Signals, judge, signals
from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from retrieval.tokens import CJK, LATIN_WORD, language
from retrieval.types import Hit

ROOT = Path(__file__).resolve().parent.parent
CUTOFFS = (1, 3, 5, 10)


@dataclass(frozen=True)
class DevSet:
    """A folder of docs and the questions asked of it."""

    name: str
    corpus: Path
    questions: Path
    about: str


def _devset(name: str, about: str, corpus: str | None = None) -> DevSet:
    folder = ROOT / "devsets" / name
    return DevSet(
        name, ROOT / corpus if corpus else folder / "docs", folder / "questions.jsonl", about
    )


#: The dev sets, each a different shape of documentation; all written by us.
DEV_SETS: dict[str, DevSet] = {
    s.name: s
    for s in [
        _devset("sample", "the sample docs (a company handbook, IT, on-call)", "docs_corpus"),
        _devset("helpcentre", "FAQ pages: dozens of short ### / #### question entries per file"),
        _devset("helpcentre-2", "FAQ pages of another product, written apart from the first"),
        _devset("reference", "long reference and how-to pages: front matter, code, tables"),
        _devset("zh-ops", "Chinese operations docs with English terms, commands and YAML"),
        _devset("mixed", "a wiki half in English, half in Chinese; cross-language questions"),
        _devset(
            "crossing",
            "ops docs of a job scheduler, each topic in English or in Chinese only; 50 of 110 "
            "answerable questions asked in the other language, in everyday words",
        ),
    ]
}

#: Held-out sets beside the project (`../shared/devsets/`), written by nobody on the team: a
#: check, never a training set. Used by path, never copied; absent from a user's own clone.
SHARED = ROOT.parent / "shared" / "devsets"
HELD_OUT: dict[str, DevSet] = {
    "foreign": DevSet(
        "foreign",
        SHARED / "foreign" / "docs",
        SHARED / "foreign" / "questions.jsonl",
        "public Apache APISIX docs, 25 Chinese and 20 English pages; questions written outside "
        "the team (../shared/devsets/foreign, Apache-2.0)",
    )
}


def all_sets() -> dict[str, DevSet]:
    """Our dev sets, and each held-out set that is present."""
    present = {name: s for name, s in HELD_OUT.items() if s.questions.exists()}
    return {**DEV_SETS, **present}


#: Named configurations compared side by side: settings overrides for ingest and search.
CONFIGS: dict[str, dict[str, object]] = {
    "default": {},  # whatever the settings say (RAG_* variables, .env)
    "baseline": {  # the tutorial's pipeline: split on "# ", MiniLM, one dense search
        "embedding_model": "minilm-offline",
        "split_mode": "hash",
        "search_mode": "dense",
        "language_balance": False,
    },
    "e5-dense": {  # the same with the multilingual e5 model
        "embedding_model": "e5-offline",
        "split_mode": "hash",
        "search_mode": "dense",
        "language_balance": False,
    },
    "e5-hybrid": {"embedding_model": "e5-offline"},  # last round's default: e5 alone
    "dense": {"search_mode": "dense"},
    "rrf": {"fusion": "rrf", "lexical_weight": 1.0},
    "no-language-balance": {"language_balance": False},
    "faq-entries-apart": {"keep_questions_apart": True},
    "minilm": {"embedding_model": "minilm-offline"},
}


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    doc: str | None
    heading: str | None
    answer_snippet: str | None
    lang: str = ""

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
            fields = {k: row.get(k) for k in Question.__annotations__}
            fields["lang"] = fields["lang"] or language(fields["question"])
            questions.append(Question(**fields))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question record ({exc})") from None
    return questions


def document_language(text: str) -> str:
    """A whole page's language, for grouping questions: 'zh' when CJK characters are a fifth
    of its CJK characters and Latin words (Chinese ops pages are full of English config keys,
    commands and code), else 'en'."""
    cjk, latin = len(CJK.findall(text)), len(LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= 0.2 * (cjk + latin) else "en"


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
    refused: bool  # without a model: refused flatly (with one, only an empty retrieval is)
    cross: bool = False  # asked in another language than the gold doc's
    signals: Signals | None = None
    weak: bool = False  # flagged "may not answer this" (or refused)
    doc_lang: str = ""  # the language of the gold document


def summarise(results: Sequence[Scored], k: int) -> dict[str, float]:
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    figures: dict[str, float] = {}
    for cut in CUTOFFS:
        figures[f"recall@{cut}"] = _mean(recall_at(r.flags, cut) for r in answerable)
    figures[f"mrr@{k}"] = _mean(mrr_at(r.flags, k) for r in answerable)
    figures[f"ndcg@{k}"] = _mean(ndcg_at(r.flags, k, r.relevant) for r in answerable)
    figures["e2e@5"] = _mean(recall_at(r.flags, 5) * (not r.refused) for r in answerable)
    figures["refused_answerable"] = _mean(r.refused for r in answerable)
    figures["weak_answerable"] = _mean(r.weak for r in answerable)
    figures["refused_unanswerable"] = _mean(r.refused for r in unanswerable)
    figures["weak_unanswerable"] = _mean(r.weak for r in unanswerable)
    figures["questions"] = len(results)
    return figures


def group_results(results: Sequence[Scored]) -> dict[str, list[Scored]]:
    """'all', then in sets that mix languages: per question language (`lang=zh`, with that
    language's unanswerable questions), per direction question > answer (`zh>en`: Chinese
    questions that only an English page answers; answerable only), and 'cross-language'
    (both cross directions, plus the unanswerable ones)."""
    groups: dict[str, list[Scored]] = {"all": list(results)}
    langs = sorted({r.question.lang for r in results} | {r.doc_lang for r in results} - {""})
    if len(langs) < 2:
        return groups
    for lang in langs:
        groups[f"lang={lang}"] = [r for r in results if r.question.lang == lang]
    for asked in langs:
        for doc in langs:
            pair = [r for r in results if r.question.lang == asked and r.doc_lang == doc]
            if pair:
                groups[f"{asked}>{doc}"] = pair
    cross = [r for r in results if r.cross]
    if cross:
        groups["cross-language"] = cross + [r for r in results if not r.question.answerable]
    return groups


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else 0.0


# --- running a configuration ------------------------------------------------------------------
def build_index(settings: Settings, overrides: dict[str, object]) -> None:
    """Ingest with the real ingest job, a separate process as an admin would run it."""
    run_ingest_job(settings.docs_dir, settings.store_uri, _env_for(settings, overrides))


def _env_for(settings: Settings, overrides: dict[str, object]) -> dict[str, str]:
    """The overrides (and the vector cache) as the RAG_* variables the ingest job reads."""
    values = {**overrides, "embedding_cache": settings.embedding_cache}
    return {
        f"RAG_{key.upper()}": value if isinstance(value, str | Path) else json.dumps(value)
        for key, value in values.items()
        if value is not None
    }


class Runner:
    """Builds an index per (config, set) and scores every question against it."""

    def __init__(self, base: Settings, index_dir: Path, k: int):
        self.base, self.index_dir, self.k = base, index_dir, k
        if base.embedding_cache is None:  # share vectors across configurations and sets
            self.base = base.updated(embedding_cache=index_dir / "vectors.sqlite")

    def run(self, config: str, overrides: dict[str, object], dev: DevSet) -> list[Scored]:
        db = self.index_dir / f"{dev.name}-{config}.db"
        settings = self.base.updated(store_uri=str(db), docs_dir=dev.corpus, **overrides)
        build_index(settings, overrides)
        retriever = Retriever(settings)
        try:
            return self._score(retriever, settings, dev, config)
        finally:
            retriever.close()

    def _score(
        self, retriever: Retriever, settings: Settings, dev: DevSet, config: str
    ) -> list[Scored]:
        questions = load_questions(dev.questions)
        chunks = list(retriever.store.passages())
        texts: dict[str, list[str]] = {}
        for c in chunks:
            texts.setdefault(c.doc, []).append(c.text)
        doc_lang = {doc: document_language("\n".join(parts)) for doc, parts in texts.items()}
        results = []
        for q in tqdm(questions, desc=f"{dev.name}/{config}", unit="q", file=sys.stderr):
            found = retriever.retrieve(q.question, self.k)
            flags = [is_hit(h, q) for h in found.hits]
            relevant = sum(is_hit(c, q) for c in chunks)
            gold_lang = doc_lang.get(q.doc, q.lang) if q.answerable else ""
            cross = q.answerable and gold_lang != q.lang
            verdict = judge(found, settings, with_model=False)
            results.append(
                Scored(
                    q, found.hits, flags, relevant, verdict.refuse, cross, signals(found),
                    verdict.weak, gold_lang,
                )
            )  # fmt: skip
        return results


def per_question(dev: str, config: str, results: list[Scored]) -> list[dict]:
    return [
        {
            "set": dev,
            "id": r.question.id,
            "config": config,
            "question": r.question.question,
            "first_hit": first_hit_rank(r.flags),
            "refused": r.refused,
            "weak": r.weak,
            "answerable": r.question.answerable,
            "signals": asdict(r.signals) if r.signals else None,
            "hits": [
                {"doc": h.doc, "heading": h.heading, "text": h.text, "score": h.score}
                for h in r.hits
            ],
        }
        for r in results
    ]


#: figures[set][config][group] -> metric -> value
Figures = dict[str, dict[str, dict[str, dict[str, float]]]]


def evaluate(
    sets: Sequence[DevSet],
    configs: dict[str, dict[str, object]],
    k: int,
    base: Settings,
    index_dir: Path | None = None,
) -> tuple[Figures, list[dict]]:
    """Figures per set, configuration and question group, and the per-question hits."""
    figures: Figures = {}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        folder = index_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runner = Runner(base, folder, k)
        for dev in sets:
            for name, overrides in configs.items():
                results = runner.run(name, overrides, dev)
                groups = group_results(results)
                figures.setdefault(dev.name, {})[name] = {
                    g: summarise(members, k) for g, members in groups.items()
                }
                rows += per_question(dev.name, name, results)
    return figures, rows


# --- reporting ----------------------------------------------------------------------------------
def columns(k: int) -> list[str]:
    return [f"recall@{c}" for c in CUTOFFS] + [
        f"mrr@{k}",
        f"ndcg@{k}",
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
    command = "python -m retrieval.eval " + " ".join(argv if argv is not None else sys.argv[1:])
    parts = [
        f"# Retrieval quality\n\nGenerated {time.strftime('%Y-%m-%d %H:%M %Z')} by "
        f"`{command.strip()}` (`make eval`)."
    ]
    for name, by_config in figures.items():
        known = {**DEV_SETS, **HELD_OUT}
        about = known[name].about if name in known else name
        parts.append(f"### {name}: {about}\n\n{table(by_config, k)}")
    described = "\n".join(f"- **{name}**: {_describe(configs[name])}" for name in configs)
    parts += [described, METRICS_NOTE]
    return "\n\n".join(parts) + "\n"


START, END = "<!-- eval:start -->", "<!-- eval:end -->"


def write_report(path: Path, text: str) -> None:
    """Write the report; in a file with eval markers (the README), replace what lies between."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        text = f"{head}{START}\n{text.split(chr(10), 2)[2]}{END}{rest.split(END, 1)[1]}"
    path.write_text(text, encoding="utf-8")


def _describe(overrides: dict[str, object]) -> str:
    if not overrides:
        return "the current settings (the shipped defaults unless RAG_* variables are set)"
    return ", ".join(f"{key}={value}" for key, value in overrides.items())


METRICS_NOTE = """recall@k: share of answerable questions with at least one hit in the top k.
MRR@10 and nDCG@10 (binary gains; the ideal ranking counts every chunk of the index that satisfies
the hit rule). e2e@5: answerable questions that are not refused and have a hit in the top 5
(without a model; with one, only an empty retrieval is refused, so e2e@5 is recall@5).
refused_answerable / refused_unanswerable: share refused flatly without a model (lower / higher
is better); weak_answerable / weak_unanswerable: share flagged "the documents may not answer
this" or refused (lower / higher is better). A hit is a chunk containing the answer snippet, or
a chunk of the gold document holding the gold heading (as a line or in its heading path).
Groups: lang=xx is the questions asked in that language (with its unanswerable ones); xx>yy is
the answerable questions asked in xx whose answer is in a yy page; cross-language is both
cross directions plus the unanswerable questions."""


def parse_overrides(items: Sequence[str]) -> dict[str, object]:
    """`key=value` pairs (JSON values where they parse, else strings) as settings overrides."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in Settings.model_fields:
            raise ValueError(f"--with {item!r}: expected SETTING=VALUE with a known setting")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _chosen(name: str) -> DevSet:
    dev = all_sets().get(name)
    if dev is None:
        raise ValueError(f"the {name} set is not here: expected {HELD_OUT[name].questions}")
    return dev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retrieval.eval", description=__doc__)
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
    parser.add_argument("--out", type=Path, help="write per-question hits as JSON lines")
    parser.add_argument("--index-dir", type=Path, help="keep the indexes here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--report", type=Path, help="write a markdown report (date, command)")
    args = parser.parse_args(argv)
    with fail_cleanly():
        if bool(args.corpus) != bool(args.qa):
            raise ValueError("--corpus and --qa go together")
        sets = (
            [DevSet("custom", args.corpus, args.qa, str(args.corpus))]
            if args.corpus
            else [_chosen(name) for name in (args.sets or all_sets())]
        )
        configs = {name: CONFIGS[name] for name in (args.configs or CONFIGS)}
        if args.overrides:
            configs["custom"] = parse_overrides(args.overrides)
        figures, rows = evaluate(sets, configs, args.k, load_settings(), args.index_dir)
    if args.out:
        lines = (json.dumps(row, ensure_ascii=False) for row in rows)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.report:
        write_report(args.report, report(figures, configs, args.k, argv))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, by_config in figures.items():
            print(f"\n{name}\n{table(by_config, args.k)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
