"""Owner-only files: the data folder (index, conversations, users, sync records, logs, vector
caches) is readable by the account that runs the service and nobody else on the machine.

Every file we create is made 0600 and every folder 0700, whatever the umask; at start-up each
front door (the app, the API, the MCP server, ingest) calls `secure_data_dir`, which tightens a
folder that is open to others (an older install, a copy made with `cp -r`) or refuses in one
sentence when it cannot. Files other programs write inside it (Milvus Lite's) are then out of
reach whatever their own modes, because nobody else can enter the folder.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from retrieval.errors import UserError

FOLDER_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077  # what our child processes (the local index server, Milvus Lite) create with
OPEN_TO_OTHERS = 0o077
SYSTEM_FOLDERS = frozenset({"/", "/tmp", "/var/tmp", "/dev/shm", "/home", "/var", "/usr", "/etc"})
# What we create in a data folder, by name (a leading dot: our temporary files); only these are
# tightened inside, so an index put in a folder that holds other things (a home folder) never
# has those rewritten: the folder's own 0700 already keeps them from other users.
OUR_NAMES = ("chats.sqlite", "users.jsonl", "session.key", "ocr-cache", "embedding")
OUR_ENDINGS = (".sync-status.json", ".ingest-progress.json", ".ingest.lock", ".sqlite",
               ".sqlite-wal", ".sqlite-shm", ".tmp")  # fmt: skip


class DataFolderError(UserError):
    """The data folder is open to other users and cannot be made private."""


def make_folder(path: Path) -> Path:
    """`path` and any missing parents created 0700 (an existing folder is left as it is)."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered by the umask; this is not
    return path


def owner_only_file(path: Path) -> Path:
    """`path` exists and is 0600 (created empty, or its group and other bits removed): call it
    before a library that creates files with its own modes opens it (SQLite gives its -wal and
    -shm journals the mode of the database file)."""
    make_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        mode = os.fstat(fd).st_mode
        if mode & OPEN_TO_OTHERS:
            os.fchmod(fd, stat.S_IMODE(mode) & ~OPEN_TO_OTHERS)
    finally:
        os.close(fd)
    return path


def secure_data_dir(folder: Path) -> Path:
    """The data folder, created or tightened to 0700 with what we keep inside owner-only;
    DataFolderError (one sentence: what, where, what to do) when that cannot be done."""
    folder = Path(folder).expanduser().resolve()
    if not folder.exists():
        return make_folder(folder)
    info = folder.stat()
    _refuse_if_shared(folder, info)
    if stat.S_IMODE(info.st_mode) != FOLDER_MODE:
        _chmod(folder, FOLDER_MODE)
    _tighten_inside(folder)
    return folder


def _refuse_if_shared(folder: Path, info: os.stat_result) -> None:
    if not stat.S_ISDIR(info.st_mode):
        raise DataFolderError(f"the data folder {folder} is not a folder; point RAG_STORE_URI "
                              "at a file inside a folder of its own")  # fmt: skip
    if str(folder) in SYSTEM_FOLDERS or info.st_mode & stat.S_ISVTX:
        raise DataFolderError(
            f"the data folder {folder} is shared by other users (a system folder); point "
            "RAG_STORE_URI at a file inside a folder of its own, such as ./data/milvus.db"
        )
    if info.st_uid != os.geteuid():
        raise DataFolderError(
            f"the data folder {folder} belongs to {_user(info.st_uid)}, not to "
            f"{_user(os.geteuid())} who runs this; run the service as {_user(info.st_uid)} "
            f"or `chown -R {_user(os.geteuid())} {folder}`"
        )


def is_ours(name: str) -> bool:
    """A data-folder entry we create: the index (`*.db`) and what sits beside it, the chats,
    users, session key, sync records, caches."""
    name = name.lstrip(".")
    return ".db" in name or name.startswith(OUR_NAMES) or name.endswith(OUR_ENDINGS)


def _tighten_inside(folder: Path) -> None:
    """Group and other bits off our entries and everything below them (symbolic links are
    not followed)."""
    for entry in folder.iterdir():
        if not is_ours(entry.name):
            continue
        _tighten(entry)
        if entry.is_dir() and not entry.is_symlink():
            for root, dirs, files in os.walk(entry):
                for name in dirs + files:
                    _tighten(Path(root) / name)


def _tighten(path: Path) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return  # removed meanwhile (a lease, a temporary file)
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & OPEN_TO_OTHERS:
        return
    if info.st_uid == os.geteuid():
        _chmod(path, stat.S_IMODE(info.st_mode) & ~OPEN_TO_OTHERS)


def _chmod(path: Path, mode: int) -> None:
    try:
        os.chmod(path, mode)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DataFolderError(
            f"cannot make {path} private ({exc.strerror}); run `chmod -R go-rwx {path}` as "
            "its owner, then start again"
        ) from None


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
