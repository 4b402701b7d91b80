"""One local Milvus Lite server per index, shared by every process of ours, in any start order.

Milvus Lite lets one process open a data directory. So no process of ours opens it: the chat
app, `python -m ingest` (one-shot, `--watch`, `--every`), the API, the MCP server and the eval
all `attach` to a small **supervisor** (`python -m retrieval.store.local_server DATA_DIR`) that
runs `milvus-lite server` on 127.0.0.1 for that directory. Whoever comes first starts it (under
a file lock, so two cannot race); the others find it by the record beside the data directory.

Each attached process holds a **lease**: a file named by its pid in `<data dir>.leases/`. It is
dropped on a normal exit and on SIGTERM / SIGINT (and by `detach`), and the supervisor also
drops the lease of a process that died without a word (kill -9). When no lease is left for a
few seconds, the supervisor stops the server cleanly and exits: no index server outlives its
last user, and stopping one user never takes the index away from another.

The server listens on a **Unix socket inside the owner-only data folder** (`<index>.sock:0`;
Milvus Lite's command joins host and port with a colon), never on a TCP port: only the
account that runs the service can reach it (another local user cannot enter the folder, and the
socket itself is 0600), so nobody else on the machine can read the index through it. When the
folder's path is too long for a socket address (107 bytes), the socket goes into a 0700 folder
of this account's own in the temp folder instead. Everything we create here is owner-only.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from retrieval.files import write_atomic
from retrieval.private import FILE_MODE, UMASK, DataFolderError, make_folder

UNIX = "unix:"
SOCKET_SUFFIX = ".sock:0"  # Milvus Lite's server binds f"{host}:{port}": host unix:PATH, port 0
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
GRACE_S = 3.0  # no lease for this long: the supervisor stops the server
POLL_S = 0.5


def is_local_path(uri: str) -> bool:
    return "://" not in uri and not uri.startswith(UNIX)


def _resolved(data_dir: str | Path) -> Path:
    return Path(data_dir).expanduser().resolve()


def _beside(data_dir: str | Path, suffix: str) -> Path:
    """A file (or folder) of ours next to the data directory: `<name><suffix>`."""
    path = _resolved(data_dir)
    return path.with_name(path.name + suffix)


def record_file(data_dir: str | Path) -> Path:
    return _beside(data_dir, ".server.json")


def lease_dir(data_dir: str | Path) -> Path:
    return _beside(data_dir, ".leases")


def log_file(data_dir: str | Path) -> Path:
    """What the supervisor and its server write (startup errors, Milvus Lite's own log)."""
    return _beside(data_dir, ".server.log")


def _start_lock(data_dir: str | Path) -> Path:
    return _beside(data_dir, ".server.lock")


def _run_lock(data_dir: str | Path) -> Path:
    """Held by the one supervisor that serves a data directory, from before its server starts
    until after that server has exited (released with the supervisor, also on kill -9)."""
    return _beside(data_dir, ".server.run")


def socket_file(data_dir: str | Path) -> Path:
    """Where the server for a data directory listens: beside it, inside the data folder; in
    this account's private runtime folder when that path is too long for a socket."""
    beside = _beside(data_dir, SOCKET_SUFFIX)
    if len(os.fsencode(beside)) <= MAX_SOCKET_PATH:
        return beside
    digest = hashlib.sha256(os.fsencode(_resolved(data_dir))).hexdigest()[:16]
    return _runtime_dir() / f"{digest}{SOCKET_SUFFIX}"


def _runtime_dir() -> Path:
    """`docs-qa-<uid>` in the temp folder, 0700 and ours (refused if someone else made it)."""
    folder = make_folder(Path(tempfile.gettempdir()) / f"docs-qa-{os.geteuid()}")
    info = folder.lstat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o077 or not folder.is_dir():
        raise DataFolderError(f"{folder} is not a private folder of this account; remove it")
    return folder


def _socket_open(path: Path) -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(0.5)
        probe.connect(os.fsencode(path))
        return True
    return False


def alive(pid: int) -> bool:
    """The process runs (a zombie does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie (exited, not yet reaped) is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


def _read_record(data_dir: str | Path) -> dict | None:
    try:
        return json.loads(record_file(data_dir).read_text())
    except (OSError, ValueError):
        return None


def find_server(data_dir: str | Path) -> str | None:
    """The URI (`unix:PATH`) of a running local server for this data directory, if any."""
    info = _read_record(data_dir)
    if not info or not alive(int(info.get("pid", -1))) or "socket" not in info:
        return None
    path = Path(info["socket"])
    return f"{UNIX}{path}" if _socket_open(path) else None


def resolve(uri: str) -> str:
    """A Lite path served by a running local server resolves to that server's URI."""
    return (find_server(uri) or uri) if is_local_path(uri) else uri


def data_dir_for(uri: str) -> Path | None:
    """The data directory behind a URI, when the URI is a running local server of ours."""
    if not uri.startswith(UNIX) or not uri.endswith(SOCKET_SUFFIX):
        return None
    path = Path(uri.removeprefix(UNIX))
    candidate = path.with_name(path.name.removesuffix(SOCKET_SUFFIX))
    if path.parent == Path(tempfile.gettempdir()) / f"docs-qa-{os.geteuid()}":
        with contextlib.suppress(OSError, ValueError, KeyError):
            candidate = Path(json.loads(path.with_suffix(".json").read_text())["data_dir"])
    return candidate if find_server(candidate) == uri else None


# --- attaching (every process of ours) --------------------------------------------------------

_held: dict[Path, int] = {}  # data dir -> how many users in this process hold its lease
_guard = threading.Lock()


def attach(data_dir: str | Path, timeout_s: float = 60.0) -> str:
    """The URI of the shared server for a data directory, started if absent; this process
    holds a lease on it until `detach` (as often as it attached) or its exit."""
    path = _resolved(data_dir)
    with _guard:
        uri = _ensure_supervisor(path, timeout_s)
        _held[path] = _held.get(path, 0) + 1
        _on_exit_once()
    return uri


def detach(data_dir: str | Path) -> None:
    """One user of this process is done; the last one drops the process's lease."""
    path = _resolved(data_dir)
    with _guard:
        count = _held.get(path, 0) - 1
        if count > 0:
            _held[path] = count
            return
        _held.pop(path, None)
        _drop_lease(path)


def ensure_server(data_dir: str | Path, timeout_s: float = 60.0) -> str:
    """Attach for the rest of this process's life (what the long-running front doors do)."""
    return attach(data_dir, timeout_s)


def _lease(path: Path) -> Path:
    return lease_dir(path) / str(os.getpid())


def _take_lease(path: Path) -> None:
    write_atomic(_lease(path), str(time.time()))


def _drop_lease(path: Path) -> None:
    with contextlib.suppress(OSError):
        _lease(path).unlink()


@contextlib.contextmanager
def _starting(path: Path):
    """The start lock of a data directory: attaching, starting and stopping take it, so a
    lease is never taken on a server that is about to stop."""
    make_folder(path.parent)
    with open(os.open(_start_lock(path), os.O_WRONLY | os.O_CREAT, FILE_MODE), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ensure_supervisor(path: Path, timeout_s: float) -> str:
    with _starting(path):
        _take_lease(path)  # first: a supervisor deciding to stop now sees this user
        if found := find_server(path):
            return found
        try:
            return _start_supervisor(path, timeout_s)
        except BaseException:
            if not _held.get(path):
                _drop_lease(path)
            raise


def _start_supervisor(path: Path, timeout_s: float) -> str:
    log = log_file(path)
    with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as out:
        os.fchmod(out.fileno(), FILE_MODE)  # a new log per server run, its owner's only
        process = subprocess.Popen(
            [sys.executable, "-m", "retrieval.store.local_server", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # outlives its starter; a Ctrl-C of the starter spares it
            umask=UMASK,  # what it and Milvus Lite create is owner-only
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
    deadline = time.monotonic() + timeout_s
    while not (found := find_server(path)):
        if process.poll() is not None:
            detail = log.read_text(errors="replace").strip()
            raise RuntimeError(_start_error(str(path), detail))
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the local Milvus server for {path} did not start in time")
        time.sleep(0.1)
    return found


def _start_error(path: str, detail: str) -> str:
    if "lock" in detail.lower():
        return (
            f"the index {path} is held open by a process that does not share it (an old "
            "version of docs-qa, or `milvus-lite` run by hand); stop that process"
        )
    last = detail.splitlines()[-1] if detail else "no detail"
    return f"the local Milvus server for {path} failed to start: {last}"


_exit_hooked = False


def _on_exit_once() -> None:
    """Drop every lease of this process on exit, also on SIGTERM / SIGINT (a service stop)."""
    global _exit_hooked
    if _exit_hooked:
        return
    _exit_hooked = True
    atexit.register(_drop_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still runs
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if previous in (signal.SIG_DFL, None) or (
            signum == signal.SIGINT and previous is signal.default_int_handler
        ):
            signal.signal(signum, _exit_on_signal)


def _exit_on_signal(signum, _frame) -> None:
    _drop_all()
    raise SystemExit(128 + signum)


def _drop_all() -> None:
    for path in list(_held):
        _drop_lease(path)
    _held.clear()


# --- the supervisor (its own process) ---------------------------------------------------------


def live_leases(path: Path) -> list[int]:
    """Pids holding a lease; the leases of processes that died are removed."""
    holders = []
    for lease in lease_dir(path).glob("*"):
        if not lease.name.isdigit():
            continue  # a lease being written (write_atomic's temporary file): not ours to remove
        pid = int(lease.name)
        if alive(pid):
            holders.append(pid)
        else:
            with contextlib.suppress(OSError):
                lease.unlink()
    return holders


def supervise(path: Path) -> int:
    """Serve `path` unless another supervisor does: an attacher killed while it waited for a
    starting server leaves the start lock free, and the next attacher starts a second one."""
    with open(os.open(_run_lock(path), os.O_WRONLY | os.O_CREAT, FILE_MODE), "w") as run:
        if not _my_turn(run, path):
            return 0 if find_server(path) else 1
        return _serve(path)


def _my_turn(run, path: Path, timeout_s: float = 60.0) -> bool:
    """Wait for the run lock; give way when another supervisor serves the index meanwhile
    (its server holds Milvus Lite's own lock, which a second server would fail on)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(run, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if find_server(path):
                return False
            if time.monotonic() > deadline:
                print(f"another supervisor holds {path} and does not serve it", flush=True)
                return False
            time.sleep(0.1)


def _serve(path: Path) -> int:
    """Run the server for `path` while any lease is held; then stop it and remove the record."""
    sock = socket_file(path)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()  # left by a server that was killed (we hold the start lock's decision)
    command = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(path)]
    # Its OpenMP threads sleep between searches instead of spinning on the cores the question's
    # embedding needs next (measured: 158 -> ~95 ms a question at 10k chunks on 2 cores).
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ}
    host = UNIX + str(sock).removesuffix(":0")
    server = subprocess.Popen(  # its output goes where ours does: the log file
        [*command, "--host", host, "--port", "0"], stdin=subprocess.DEVNULL, env=env, umask=UMASK
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        while not _socket_open(sock):
            if server.poll() is not None:
                return 1  # its reason is in the log, which the starter reports
            time.sleep(0.1)
        _publish(path, sock, server.pid)
        while not stopping.is_set():
            _wait_until_idle(path, stopping, server)
            with _starting(path):  # nobody attaches while we decide
                if stopping.is_set() or server.poll() is not None or not live_leases(path):
                    _unpublish(path, sock)
                    _stop(server)
                    return 0
    finally:
        _stop(server)
        _unpublish(path, sock)
    return 0


def _wait_until_idle(path: Path, stopping: threading.Event, server: subprocess.Popen) -> None:
    """Until no lease has been held for GRACE_S, the server died, or we are told to stop."""
    idle_since = None
    while not stopping.wait(POLL_S) and server.poll() is None:
        if live_leases(path):
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= GRACE_S:
            return


def _publish(path: Path, sock: Path, server_pid: int) -> None:
    record = {"pid": os.getpid(), "socket": str(sock), "server_pid": server_pid}
    write_atomic(record_file(path), json.dumps(record))
    if sock.parent != path.parent:  # in the runtime folder: say which index it serves
        write_atomic(sock.with_suffix(".json"), json.dumps({"data_dir": str(path)}))


def _unpublish(path: Path, sock: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(record_file(path).read_text()).get("pid") == os.getpid():
            record_file(path).unlink()
    for leftover in (sock, sock.with_suffix(".json")) if sock.parent != path.parent else (sock,):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _stop(server: subprocess.Popen) -> None:
    """Shut the server down cleanly (SIGINT, as Milvus Lite expects)."""
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()  # its Milvus Lite lock is free only once it is gone


if __name__ == "__main__":
    sys.exit(supervise(_resolved(sys.argv[1])))
