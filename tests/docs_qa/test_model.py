"""`docs-qa model`: the bundled model behind llama.cpp's real server on 127.0.0.1, its settings
printed and written, and nothing it started left running after SIGTERM, Ctrl-C or its death."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from docs_qa.model import main
from retrieval.local_model import KEYS, write_env
from retrieval.settings import Settings
from tests.conftest import ROOT, free_port


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not alive(pid)


def start_command(tmp_path: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "docs_qa", "model", "--port", str(port), "--write-env"]
    return subprocess.Popen(command, cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def read_until_served(process: subprocess.Popen) -> str:
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("RAG_LLM_PROVIDER="):
            return "".join(lines)
    raise AssertionError(f"no settings printed: {''.join(lines)} {process.stderr.read()}")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_serves_the_bundled_model_then_leaves_nothing_running(tmp_path, how):
    port = free_port()
    (tmp_path / ".env").write_text("RAG_TOP_K=7\nRAG_LLM=deepseek-chat\n")
    process = start_command(tmp_path, port)
    printed = read_until_served(process)
    (server,) = children(process.pid)
    assert f"RAG_LLM_BASE_URL=http://127.0.0.1:{port}/v1" in printed
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as reply:
        assert json.load(reply)["data"][0]["id"] == "qwen2.5-coder-0.5b-instruct"
    env = (tmp_path / ".env").read_text()
    assert env.startswith("RAG_TOP_K=7\nRAG_LLM=custom\n") and "deepseek" not in env
    settings = Settings(_env_file=tmp_path / ".env")
    assert settings.llm == "custom" and settings.llm_base_url.endswith(f":{port}/v1")
    process.send_signal(how)
    code = process.wait(timeout=30)
    assert code == (-9 if how == signal.SIGKILL else 0)
    assert wait_gone(server), "llama.cpp's server outlived `docs-qa model`"
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
        probe.bind(("127.0.0.1", port))  # nobody listens there any more


def test_clear_errors_before_anything_starts(tmp_path, capsys):
    assert main([str(tmp_path / "missing.gguf")]) == 2
    assert "missing.gguf: no such model file" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--port", str(taken.getsockname()[1])]) == 2
    assert "is in use: pick another with --port" in capsys.readouterr().err


def test_write_env_replaces_only_the_model_settings(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "# mine\nRAG_LLM=ollama-r1\nexport RAG_LLM_MODEL_NAME=x\nRAG_LLM=dup\nRAG_TOP_K=3\n"
    )
    write_env(env, {key: f"v-{key}" for key in KEYS})
    assert env.read_text().splitlines() == [
        "# mine",
        "RAG_LLM=v-RAG_LLM",
        "RAG_LLM_MODEL_NAME=v-RAG_LLM_MODEL_NAME",
        "RAG_TOP_K=3",
        "RAG_LLM_BASE_URL=v-RAG_LLM_BASE_URL",
        "RAG_LLM_PROVIDER=v-RAG_LLM_PROVIDER",
    ]
    assert env.stat().st_mode & 0o077 == 0  # it may hold keys: the owner's alone


def test_the_bench_front_door_stops_its_server_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "bench.local_model", "serve", str(port)],
                               cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    for line in process.stdout:
        if line.startswith("export RAG_LLM_PROVIDER="):
            break
    (server,) = children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0 and wait_gone(server)
