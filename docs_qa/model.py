"""`docs-qa model [GGUF]`: a written-answer model with no GPU and no key.

Serves the bundled local model (Qwen2.5-Coder-0.5B-Instruct, from the `local-model` extra) or
any GGUF file given, with llama.cpp's OpenAI-compatible server on 127.0.0.1, fetching nothing;
prints the RAG_LLM_* settings that point the app at it and, with --write-env, sets them in
.env. Ctrl-C or SIGTERM stops the server; so does this process's death.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from retrieval.errors import UserError
from retrieval.local_model import (
    alias_for,
    check_server_installed,
    interrupted_on_sigterm,
    model_file,
    settings_for,
    start,
    stop,
    wait_ready,
    write_env,
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="docs-qa model", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "gguf", nargs="?", type=Path, help="a GGUF file (default: the bundled Qwen2.5-Coder-0.5B)"
    )
    parser.add_argument("--port", type=int, default=8012, help="port on 127.0.0.1 (8012)")
    parser.add_argument("--context", type=int, default=8192, help="context window in tokens")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument(
        "--write-env", nargs="?", const=Path(".env"), type=Path, metavar="FILE",
        help="also set the RAG_LLM_* settings in FILE (default .env)",
    )  # fmt: skip
    return parser.parse_args(argv)


def model_path(given: Path | None) -> Path:
    """The GGUF to serve: the one given, checked, or the bundled model."""
    if given is None:
        return model_file()
    if not given.is_file():
        raise UserError(f"{given}: no such model file (give the path of a .gguf file)")
    return given.resolve()


def check_port(port: int) -> None:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            taken = f"port {port} on 127.0.0.1 is in use: pick another with --port"
            raise UserError(taken) from None


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        check_server_installed()
        path = model_path(args.gguf)
        check_port(args.port)
    except UserError as exc:
        print(f"docs-qa model: {exc}", file=sys.stderr)
        return exc.exit_status
    with interrupted_on_sigterm():
        return _serve(path, args)


def _serve(path: Path, args: argparse.Namespace) -> int:
    """Serve until interrupted (0) or until the server exits on its own (1)."""
    print(f"Starting llama.cpp's server for {path} ...", file=sys.stderr, flush=True)
    process = start(args.port, path, args.context, args.threads)
    try:
        wait_ready(process, args.port)
        values = settings_for(args.port, alias_for(path))
        _announce(values, args.write_env)
        code = process.wait()
        print(f"docs-qa model: llama.cpp's server stopped (exit {code})", file=sys.stderr)
        return 1
    except UserError as exc:
        print(f"docs-qa model: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("Stopping the model server.", file=sys.stderr, flush=True)
        return 0
    finally:
        stop(process)


def _announce(values: dict[str, str], env_file: Path | None) -> None:
    url = values["RAG_LLM_BASE_URL"]
    lines = [f"Serving {values['RAG_LLM_MODEL_NAME']} at {url} (Ctrl-C stops it).", ""]
    if env_file is not None:
        write_env(env_file, values)
        lines += [f"Set in {env_file}:"]
    else:
        lines += ["Put these in .env (or run again with --write-env), then start the app:"]
    lines += [f"{key}={value}" for key, value in values.items()]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
