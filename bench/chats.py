"""The chat store at the size a heavy user reaches: one user with 1,000 conversations (3
exchanges each, 5 sources of ~900 characters per answer) among 20 users' chats. Listing
includes opening the file, as the sidebar does on every run; storing one exchange is what an
answer pays before it is shown as saved. Goals: listing under 100 ms, storing under 10 ms."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from accounts.chats import ChatStore
from retrieval.answer import Answer, Source, Timings

CONVERSATIONS = 1_000
LIST_GOAL_MS, STORE_GOAL_MS = 100.0, 10.0


def sample_answer(n: int) -> Answer:
    text = "Full-time staff get 25 days of paid annual leave a year. " * 16
    sources = [Source(i, f"handbook/doc-{n % 40}.md", "Leave > Annual", 0.9 - i / 10, text)
               for i in range(1, 6)]  # fmt: skip
    return Answer(f"Answer {n} [1][2].", "", sources, "deepseek-chat", f"q {n}",
                  timings=Timings(120.0, 400.0, 2100.0))  # fmt: skip


def fill(store: ChatStore) -> None:
    for user in range(20):
        count = CONVERSATIONS if user == 0 else 50
        for n in range(count):
            chat = store.create(f"user{user}", f"Question {n} about leave and travel")
            for turn in range(3):
                store.add_message(f"user{user}", chat.id, f"Question {n}.{turn}", sample_answer(n))


def timed(action, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return times


def run() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chats.sqlite"
        fill(ChatStore(path))
        store = ChatStore(path)
        chat = store.create("user0", "timing")
        listed = store.conversations("user0", limit=10_000)
        assert len(listed) == CONVERSATIONS + 1, len(listed)
        return {
            "list": timed(lambda: store.conversations("user0", limit=10_000), 50),
            "search": timed(lambda: store.conversations("user0", "travel"), 20),
            "store": timed(lambda: store.add_message("user0", chat.id, "q", sample_answer(1)), 50),
            "open chat": timed(lambda: store.messages("user0", listed[10].id), 50),
        }


def markdown(results: dict[str, list[float]]) -> str:
    goals = {"list": LIST_GOAL_MS, "store": STORE_GOAL_MS}
    rows = ["| operation | p50 ms | p95 ms | goal ms | p95 / goal |", "|---|---|---|---|---|"]
    for name, times in results.items():
        p50 = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1]
        goal = goals.get(name)
        ratio = f"{p95 / goal:.2f}" if goal else "–"
        rows.append(f"| {name} | {p50:.1f} | {p95:.1f} | {goal or '–'} | {ratio} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown(run()))
