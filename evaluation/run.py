"""Running configurations: for every configuration (settings overrides) and every set, ingest the
docs with the real ingest job into a fresh Milvus Lite index, run every question through the
real retriever and the real refusal rule, and score it. Vectors are cached per model across
configurations (same model, same text, same vector), so comparing chunkers does not re-embed
what they share."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from evaluation.score import (
    Scored,
    first_hit_rank,
    group_results,
    in_context,
    is_hit,
    summarise,
)
from evaluation.sets import DevSet, Question, document_language, load_questions
from ingest.jobs import run_ingest_job
from retrieval.access import ALL, Access
from retrieval.answer import context_for
from retrieval.query_model import open_query_model
from retrieval.refusal import judge, signals
from retrieval.search import Retriever
from retrieval.settings import Settings

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

    def __init__(
        self,
        base: Settings,
        index_dir: Path,
        k: int,
        knowledge: str | None = None,
        helped: frozenset[str] = frozenset(),
    ):
        self.base, self.index_dir, self.k, self.knowledge = base, index_dir, k, knowledge
        self.helped = helped  # configurations also scored with the query model
        if base.embedding_cache is None:  # share vectors across configurations and sets
            self.base = base.updated(embedding_cache=index_dir / "vectors.sqlite")

    def run(
        self, config: str, overrides: dict[str, object], dev: DevSet
    ) -> list[tuple[str, list[Scored]]]:
        """(row name, results) for the configuration offline and, with the query model, the
        same index searched with the model's help (`NAME+model`)."""
        db = self.index_dir / f"{dev.name}-{config}.db"
        settings = self.base.updated(store_uri=str(db), docs_dir=dev.corpus, **overrides)
        build_index(settings, overrides)
        runs = [(config, None)]
        if config in self.helped:
            helper = open_query_model(settings.updated(query_model=True))
            if helper is None:
                raise ValueError("--query-model needs a model: RAG_LLM (or --model)")
            runs.append((f"{config}+model", helper))
        scored = []
        for name, helper in runs:
            retriever = Retriever(settings, query_model=helper)
            try:
                scored.append((name, self._score(retriever, settings, dev, name)))
            finally:
                retriever.close()
        return scored

    def _score(
        self, retriever: Retriever, settings: Settings, dev: DevSet, config: str
    ) -> list[Scored]:
        questions, access = self._within(retriever, dev, load_questions(dev.questions))
        chunks = list(retriever.store.passages())
        texts: dict[str, list[str]] = {}
        for c in chunks:
            texts.setdefault(c.doc, []).append(c.text)
        doc_lang = {doc: document_language("\n".join(parts)) for doc, parts in texts.items()}
        results = []
        for q in tqdm(questions, desc=f"{dev.name}/{config}", unit="q", file=sys.stderr):
            found = retriever.retrieve(q.question, self.k, access=access)
            flags = [is_hit(h, q) for h in found.hits]
            relevant = sum(is_hit(c, q) for c in chunks)
            gold_lang = doc_lang.get(q.doc, q.lang) if q.answerable else ""
            cross = q.answerable and gold_lang != q.lang
            verdict = judge(found, settings, with_model=False)
            given = context_for(q.question, found.hits[: settings.top_k], retriever, access=access)
            results.append(
                Scored(
                    q, found.hits, flags, relevant, verdict.refuse, cross, signals(found),
                    verdict.weak, gold_lang, in_context([s.text for s in given], found.hits, q),
                )
            )  # fmt: skip
        return results

    def _within(
        self, retriever: Retriever, dev: DevSet, questions: list[Question]
    ) -> tuple[list[Question], Access]:
        """With a knowledge base chosen: its questions (those it holds the answer to, and the
        unanswerable ones) and a search limited to it; else every question, everything."""
        if not self.knowledge:
            return questions, ALL
        bases = retriever.store.documents_by_base(access=ALL)
        if self.knowledge not in bases:
            raise ValueError(
                f"{dev.name} has no knowledge base {self.knowledge!r} (it has {sorted(bases)})"
            )
        inside = set(bases[self.knowledge])
        kept = [q for q in questions if not q.answerable or q.doc in inside]
        print(f"{dev.name}: {len(kept)} of {len(questions)} questions are about "
              f"{self.knowledge!r}", file=sys.stderr)  # fmt: skip
        return kept, ALL.within([self.knowledge])


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
    knowledge: str | None = None,
    helped: frozenset[str] = frozenset(),
) -> tuple[Figures, list[dict]]:
    """Figures per set, configuration and question group, and the per-question hits (within
    one knowledge base when `knowledge` names one); the configurations in `helped` are also
    searched with the configured model writing the query's other wordings."""
    figures: Figures = {}
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        folder = index_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runner = Runner(base, folder, k, knowledge, helped)
        for dev in sets:
            for config, overrides in configs.items():
                for name, results in runner.run(config, overrides, dev):
                    groups = group_results(results)
                    figures.setdefault(dev.name, {})[name] = {
                        g: summarise(members, k) for g, members in groups.items()
                    }
                    rows += per_question(dev.name, name, results)
    return figures, rows


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
