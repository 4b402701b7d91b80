"""The answer pipeline with a real local model: where an answer's time goes.

The local test model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M, `bench.local_model`) behind llama.cpp's
OpenAI-compatible server on 127.0.0.1, over an index of docs_corpus/ with the default embedder.
For each question, in English and Chinese: retrieval, time to first token, total time, the
answer's tokens (as the server reports them, else estimated) and tokens per second of output.
Medians over the questions, per language; the share of an answer's time that is retrieval.

    python -m bench.answers [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.common import free_port  # noqa: E402
from bench.local_model import serve, settings_for  # noqa: E402
from ingest.pipeline import ingest  # noqa: E402
from retrieval.access import ALL  # noqa: E402
from retrieval.answer import Answer, answer_question  # noqa: E402
from retrieval.embeddings import load_embedder  # noqa: E402
from retrieval.llm import open_chat  # noqa: E402
from retrieval.search import Retriever  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import Store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = {
    "en": [
        "How many days of paid annual leave do I get?",
        "What is the hotel budget in London?",
        "How do I roll back a deploy on Kubernetes?",
        "Who do I call when I lose my laptop?",
    ],
    "zh": [
        "入职满一年后年假有几天？",
        "报销要在多长时间内提交？",
        "办公室 Wi-Fi 密码在哪里找？",
        "病假要怎么请？",
    ],
}


@dataclass(frozen=True)
class Timed:
    """One answer's figures, in ms and tokens."""

    lang: str
    retrieval_ms: float
    first_token_ms: float
    total_ms: float
    tokens: int
    estimated: bool

    @property
    def tokens_per_s(self) -> float:
        generating = (self.total_ms - self.first_token_ms) / 1000
        return self.tokens / generating if generating > 0 else 0.0


def final(events) -> Answer:
    """Drain the pipeline's events; the last one is the answer."""
    *_, last = events
    return last


def measure(rounds: int) -> list[Timed]:
    port = free_port()
    server = serve(port)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
            model = {k[4:].lower(): v for k, v in settings_for(port).items()}
            settings = Settings(
                _env_file=None, store_uri=str(Path(tmp) / "a.db"), docs_dir=ROOT / "docs_corpus",
                **model,
            )  # fmt: skip
            embedder = load_embedder(settings)
            store = Store(settings)
            ingest(settings, store, embedder)
            retriever = Retriever(settings, store, embedder)
            chat = open_chat(settings)
            final(answer_question("warm up", [], retriever, chat, settings, access=ALL))
            timed = []
            for _ in range(rounds):
                for lang, questions in QUESTIONS.items():
                    for q in questions:
                        a = final(answer_question(q, [], retriever, chat, settings, access=ALL))
                        t, u = a.timings, a.usage
                        timed.append(
                            Timed(
                                lang,
                                t.retrieval_ms,
                                t.first_token_ms,
                                t.total_ms,
                                u.completion_tokens,
                                u.estimated,
                            )  # fmt: skip
                        )
            store.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return timed


def markdown(timed: list[Timed]) -> str:
    rows = [
        "| questions | retrieval ms | first token ms | total ms | answer tokens | tokens/s out "
        "| retrieval share of total |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang in ("en", "zh", "all"):
        picked = [t for t in timed if lang in ("all", t.lang)]
        if not picked:
            continue

        def med(values) -> float:
            return statistics.median(values)

        retrieval, total = med(t.retrieval_ms for t in picked), med(t.total_ms for t in picked)
        share = sum(t.retrieval_ms for t in picked) / max(1.0, sum(t.total_ms for t in picked))
        first, tokens = med(t.first_token_ms for t in picked), med(t.tokens for t in picked)
        speed = med(t.tokens_per_s for t in picked)
        rows.append(
            f"| {lang} ({len(picked)}) | {retrieval:.0f} | {first:.0f} | {total:.0f} "
            f"| {tokens:.0f} | {speed:.1f} | {share:.1%} |"
        )
    if any(t.estimated for t in timed):
        rows.append("\n(answer tokens estimated where the server reported none)")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1, help="times through the questions")
    args = parser.parse_args(argv)
    print(markdown(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
