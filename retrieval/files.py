"""Writing a file whole or not at all: the users file, sync records, uploads and the index
server's record all go through here, so a crash mid-write never leaves half a file; what is
written is readable by its owner only unless a caller asks for more."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from retrieval.private import FILE_MODE, make_folder


def write_atomic(path: Path, data: str | bytes, mode: int = FILE_MODE) -> None:
    """Write `data` to a temporary file beside `path` (created with `mode`), flush it to disk,
    then rename it over `path` in one step; the temporary file goes if anything fails. The mode
    holds whatever the umask (a missing folder is made owner-only)."""
    make_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)  # os.open's mode is filtered by the umask
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
