"""The newcomer's walk, scripted: a fresh clone, the sample docs ingested (what `make run` does
after installing), `docs-qa model --write-env`, then a Chinese question answered by the local
model from what .env now says, with its sources. The venv is this one (installing is
`make install`'s test: tests/test_makefile.py), and MiniLM keeps the ingest short."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.conftest import ROOT, free_port
from tests.docs_qa.test_model import children, read_until_served, wait_gone

QUESTION = "入职满一年后，年假一共有多少天？"
CJK = re.compile(r"[\u4e00-\u9fff]")


def run(clone, *args, timeout=600):
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env |= {
        "PYTHONPATH": str(clone),
        "HF_HUB_OFFLINE": "1",
        "RAG_EMBEDDING_MODEL": "minilm-offline",
    }
    return subprocess.run([sys.executable, *args], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def test_fresh_clone_to_a_cited_chinese_answer(tmp_path):
    clone = tmp_path / "docs-qa"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    ingested = run(clone, "-m", "ingest")
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    model = subprocess.Popen(
        [sys.executable, "-m", "docs_qa", "model", "--port", str(free_port()), "--write-env"],
        cwd=clone, env={**env, "PYTHONPATH": str(clone)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        read_until_served(model)
        (server,) = children(model.pid)
        asked = run(clone, "-m", "docs_qa", "ask", QUESTION, "--json")
    finally:
        model.terminate()
        model.wait(timeout=30)
    assert wait_gone(server)
    assert asked.returncode == 0, asked.stderr[-2000:]
    answer = json.loads(asked.stdout)
    assert answer["model"] == "qwen2.5-coder-0.5b-instruct" and answer["status"] == "answered"
    shown = {s["n"] for s in answer["sources"]}
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])}
    assert shown and cited <= shown, answer
    words = re.sub(r"\[\d+\]", "", answer["answer"])
    assert (cited and CJK.search(words)) or answer["unsupported"], answer  # else it is marked
