"""The local test model for tests, the answer eval and benchmarks: the bundled
Qwen2.5-Coder-0.5B-Instruct behind llama.cpp's server (`retrieval.local_model` does the work;
`docs-qa model` is the product's front door to the same thing). Never a default.

    python -m bench.local_model           # join (if needed) and print the model file's path
    python -m bench.local_model serve     # serve it; prints the RAG_LLM_* settings to use it
    python -m bench.local_model run CMD   # serve it on a free port, run CMD pointed at it, stop

Ctrl-C and SIGTERM stop the server it started, and so does its own death (the server gets a
SIGTERM from the kernel when this process goes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import free_port
from retrieval.local_model import (
    NAME,
    ModelMissing,
    interrupted_on_sigterm,
    model_file,
    serve,
    settings_for,
    stop,
)

__all__ = ["NAME", "ModelMissing", "model_file", "run", "serve", "settings_for", "stop"]


def run(command: list[str], path: Path) -> int:
    """Serve the model on a free port, run `command` with the RAG_LLM_* variables pointing at
    it, and stop the server whatever the command does."""
    port = free_port()
    with interrupted_on_sigterm():
        process = serve(port, path)
        try:
            return subprocess.call(command, env={**os.environ, **settings_for(port)})
        except KeyboardInterrupt:
            return 130
        finally:
            stop(process)


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
    with interrupted_on_sigterm():
        process = serve(port, path)
        try:
            print("\n".join(f"export {k}={v}" for k, v in settings_for(port).items()), flush=True)
            return process.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            stop(process)


if __name__ == "__main__":
    sys.exit(main())
