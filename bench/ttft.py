"""Time to first token: what the answer pipeline adds before the model's first token.

Runs against the test LLM server on 127.0.0.1 (it answers at once), over an index of
docs_corpus/. For each question it measures, side by side: the query embedding alone, the search
alone, a direct streaming call with the openai client (the floor), and the full pipeline up to
its first answer delta. Overhead = pipeline - direct call. Medians over the runs.

    python -m bench.ttft [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.common import free_port
from retrieval.access import ALL

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ingest.pipeline import ingest  # noqa: E402
from retrieval.answer import answer_question  # noqa: E402
from retrieval.embeddings import load_minilm  # noqa: E402
from retrieval.llm import Delta, Message, open_chat  # noqa: E402
from retrieval.search import Retriever  # noqa: E402
from retrieval.settings import Settings  # noqa: E402
from retrieval.store import Store  # noqa: E402

FAKE_LLM = Path(__file__).resolve().parent.parent / "tests" / "fake_llm.py"


class TestServer:
    """The OpenAI-protocol test server, run as its own process (bench imports nothing of
    tests/)."""

    def __init__(self):
        import subprocess
        import sys

        command = [sys.executable, str(FAKE_LLM), str(free_port())]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().split()[-1]  # "... server at URL"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


QUESTIONS = [
    "How many days of paid annual leave do I get?",
    "What is the hotel budget in London?",
    "How do I roll back a deploy on Kubernetes?",
    "Who do I call when I lose my laptop?",
    "What is the API rate limit on the Business plan?",
]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def first_delta(events) -> float:
    """Seconds until the generator yields its first delta; the rest is drained, not timed."""
    start = time.perf_counter()
    elapsed = None
    for event in events:
        if elapsed is None and isinstance(event, Delta):
            elapsed = time.perf_counter() - start
    if elapsed is None:
        raise RuntimeError("no delta streamed")
    return elapsed


def measure(runs: int) -> dict[str, float]:
    fake = TestServer()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            store_uri=str(Path(tmp) / "b.db"),
            docs_dir=Path("docs_corpus"),
            embedding_model="minilm-offline",
            llm="custom",
            llm_base_url=fake.url,
            llm_model_name="chat",
            llm_api_key="bench",
        )
        embedder = load_minilm()
        store = Store(settings)
        ingest(settings, store, embedder)
        retriever = Retriever(settings, store, embedder)
        chat = open_chat(settings)
        figures: dict[str, list[float]] = {"embed": [], "search": [], "direct": [], "pipeline": []}
        for i in range(runs + 2):  # two warm-up rounds are dropped
            q = QUESTIONS[i % len(QUESTIONS)]
            t = time.perf_counter()
            vector = embedder.embed_queries([q])[0].tolist()
            embed = time.perf_counter() - t
            t = time.perf_counter()
            store.dense_search(vector, settings.top_k, store.snapshot(access=ALL))
            search = time.perf_counter() - t
            direct = first_delta(chat.stream([Message("user", q)]))
            pipeline = first_delta(answer_question(q, [], retriever, chat, settings, access=ALL))
            if i >= 2:
                for key, value in zip(figures, (embed, search, direct, pipeline), strict=True):
                    figures[key].append(value)
        store.close()
    fake.stop()
    medians = {k: ms(statistics.median(v)) for k, v in figures.items()}
    medians["overhead"] = round(medians["pipeline"] - medians["direct"], 1)
    medians["overhead_minus_embed"] = round(medians["overhead"] - medians["embed"], 1)
    return medians


def markdown(m: dict[str, float], runs: int) -> str:
    ok = m["overhead_minus_embed"] <= 100
    return "\n".join(
        [
            f"| step (median of {runs}) | ms |",
            "|---|---|",
            f"| query embedding | {m['embed']:.1f} |",
            f"| search (top-k, hybrid) | {m['search']:.1f} |",
            f"| direct streaming call to the model (floor) | {m['direct']:.1f} |",
            f"| full pipeline to its first token | {m['pipeline']:.1f} |",
            f"| pipeline overhead (pipeline - floor) | {m['overhead']:.1f} |",
            f"| overhead minus the query embedding | {m['overhead_minus_embed']:.1f} "
            f"(goal <= 100: {'met' if ok else 'NOT met'}) |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)
    m = measure(args.runs)
    print(f"time to first token, median of {args.runs} runs (ms):")
    print(f"  query embedding            {m['embed']:8.1f}")
    print(f"  search (top-k)             {m['search']:8.1f}")
    print(f"  direct model call (floor)  {m['direct']:8.1f}")
    print(f"  full pipeline              {m['pipeline']:8.1f}")
    print(f"  pipeline overhead          {m['overhead']:8.1f}")
    ok = m["overhead_minus_embed"] <= 100
    print(
        f"  overhead minus embedding   {m['overhead_minus_embed']:8.1f}  (goal <= 100: "
        f"{'met' if ok else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
