"""Another local user gets nothing from the data folder: not its files, not its listing, not the
index server's socket. The attacker is the real user `nobody` (setpriv), reading a data folder
that an older install left open (0755 / 0644) after the service has started once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from accounts.chats import ChatStore
from retrieval.files import write_atomic
from retrieval.private import DataFolderError, secure_data_dir
from retrieval.store.connect import locate, release

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
PEEK = """
import json, os, socket, sys
found = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path) or path.endswith("/"):
            found[path] = sorted(os.listdir(path))
        elif ".sock" in path:
            s = socket.socket(socket.AF_UNIX); s.connect(path); found[path] = "connected"
        else:
            found[path] = open(path, "rb").read(64).decode("latin-1")
    except OSError as exc:
        found[path] = type(exc).__name__
print(json.dumps(found))
"""

CAN_BE_NOBODY = os.geteuid() == 0 and shutil.which("setpriv") is not None


def peek_as_nobody(*paths: Path) -> dict[str, str | list]:
    """What user nobody gets for each path: its listing, its first bytes, or the error."""
    result = subprocess.run(
        [*AS_NOBODY, "/usr/bin/python3", "-c", PEEK, *map(str, paths)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


@pytest.fixture
def open_machine():
    """A folder every local user may enter (as /srv or /home/service would be), with a file
    anyone may read beside the data folder: the control that shows the attack works."""
    base = Path(tempfile.mkdtemp(prefix="dqa-", dir="/tmp"))
    base.chmod(0o755)
    (base / "public.txt").write_text("readable by all")
    (base / "public.txt").chmod(0o644)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_nobody_reads_nothing_of_the_data_folder(open_machine):
    """As root (CI, this machine) the attack itself is run as nobody; as anyone else, the modes
    that stop it are checked."""
    data = open_machine / "data"
    old = os.umask(0o022)  # the usual umask: what an older install created 755 / 644
    try:
        data.mkdir(mode=0o755)
        with sqlite3.connect(data / "chats.sqlite") as db:  # alice's answer, in clear text
            db.execute("CREATE TABLE leak (text TEXT)")
            db.execute("INSERT INTO leak VALUES ('hr codename BLUEBIRD')")
        (data / "chats.sqlite-wal").write_text("hr codename BLUEBIRD")  # an old journal
        (data / "users.jsonl").write_text('{"name": "alice", "groups": ["hr"]}\n')
        (data / "notes.txt").write_text("the admin's own file")  # not ours: left as it is
        chats = ChatStore(data / "chats.sqlite")
        location = locate(str(data / "milvus.db"), shared=True)  # the app's start-up
    finally:
        os.umask(old)
    try:
        assert chats.path.exists() and location.uri.startswith("unix:")
        sock = Path(location.uri.removeprefix("unix:"))
        if CAN_BE_NOBODY:
            seen = peek_as_nobody(
                open_machine / "public.txt", data, data / "chats.sqlite",
                data / "chats.sqlite-wal", data / "users.jsonl", data / "milvus.db",
                data / "notes.txt", sock,
            )  # fmt: skip
            assert seen.pop(str(open_machine / "public.txt")) == "readable by all"  # control
            assert set(seen.values()) == {"PermissionError"}, seen
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for root, dirs, files in os.walk(data):
            for name in dirs + files:
                mode = (Path(root) / name).lstat().st_mode
                ours = name != "notes.txt"
                assert bool(mode & 0o077) != ours, f"{Path(root) / name} is {oct(mode)}"
    finally:
        release(location)
        stop_server(data / "milvus.db")


def stop_server(db: Path) -> None:
    record = db.with_name(db.name + ".server.json")
    with_pid = json.loads(record.read_text())["pid"] if record.exists() else None
    if with_pid:
        os.kill(with_pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while record.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def test_files_we_write_are_owner_only_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        write_atomic(tmp_path / "new" / "record.json", "{}")
        ChatStore(tmp_path / "chats.sqlite").migrate()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "record.json").stat().st_mode) == 0o600
    journals = [p for p in tmp_path.glob("chats.sqlite*")]
    assert journals and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in journals)


def test_a_shared_or_foreign_folder_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(DataFolderError, match="shared by other users"):
        secure_data_dir(Path("/tmp"))
    if os.geteuid() != 0:
        return
    foreign = tmp_path / "theirs"
    foreign.mkdir(mode=0o755)
    os.chown(foreign, 65534, 65534)
    with pytest.raises(DataFolderError, match="belongs to nobody") as refused:
        secure_data_dir(foreign)
    assert str(refused.value).count(". ") == 0 and "chown" in str(refused.value)
    assert stat.S_IMODE(foreign.stat().st_mode) == 0o755  # left as it was


def test_a_data_folder_too_deep_for_a_socket_address_serves_from_a_private_runtime_folder(
    tmp_path,
):
    from retrieval.store.local_server import data_dir_for, ensure_server

    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 4) / "milvus.db"
    uri = ensure_server(deep)
    try:
        sock = Path(uri.removeprefix("unix:"))
        assert len(str(deep)) > 107 and sock.parent.name == f"docs-qa-{os.geteuid()}"
        assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
        assert data_dir_for(uri) == deep  # the ingest lock and the status line find the index
    finally:
        stop_server(deep)
    deadline = time.monotonic() + 10  # the record goes first, the socket just after
    while sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not sock.exists()


def test_the_served_uri_keeps_its_files_in_the_data_folder(tmp_path):
    from retrieval.settings import Settings
    from retrieval.store.local_server import socket_file

    db = tmp_path / "milvus.db"
    served = Settings(_env_file=None, store_uri=f"unix:{socket_file(db)}")
    assert served.data_dir() == tmp_path  # sync records beside the index, never ./unix:/...
