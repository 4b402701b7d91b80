"""Where the index really is, decided once, and the connection to it.

`locate` turns the configured location (a Milvus Lite path, or a server URI) into a `Location`:
the URI to connect to (a Lite path served by a running local server becomes that server's
URI), the data directory behind it when it is ours (also when we were given the local
server's URI), and from that the ingest lock. The client, the ingest lock, the status line and
the error messages all use this one answer.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from retrieval.errors import UserError
from retrieval.private import secure_data_dir
from retrieval.store import local_server


class StoreError(UserError):
    """The index cannot be used as asked; the message says what to do."""


# Errors the Milvus client raises, for front doors that report them without importing pymilvus.
MILVUS_ERRORS: tuple[type[Exception], ...] = (MilvusException,)


@dataclass(frozen=True)
class Location:
    """The index as every part of the app must see it."""

    uri: str  # what the client connects to
    data_dir: Path | None  # the Milvus Lite data directory behind it, when it is ours
    shared: bool = False  # reached through the shared local server, on a lease

    @property
    def label(self) -> str:
        """How the status line and errors name the index."""
        if self.data_dir and self.uri != str(self.data_dir):
            return f"{self.data_dir} (served at {self.uri})"
        return self.uri

    def lock_path(self, collection: str) -> Path:
        """The ingest lock: beside the data directory, else per server URI in the temp dir."""
        if self.data_dir is not None:
            return self.data_dir.with_name(f"{self.data_dir.name}.{collection}.ingest.lock")
        digest = hashlib.sha256(f"{self.uri}|{collection}".encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"docs-qa-ingest-{digest}.lock"


def locate(store_uri: str, shared: bool = False) -> Location:
    """The one function that turns a configured location into where the index really is.
    With `shared`, a Milvus Lite path is reached through the local server every process of
    ours shares (started if absent; this process holds a lease on it until `release`)."""
    if local_server.is_local_path(store_uri):
        data_dir = Path(store_uri).expanduser().resolve()
        secure_data_dir(data_dir.parent)  # every process opens the index here: app, ingest, ...
        if shared:
            try:
                return Location(local_server.attach(data_dir), data_dir, shared=True)
            except (RuntimeError, OSError) as exc:
                raise StoreError(str(exc)) from None
        return Location(local_server.find_server(str(data_dir)) or str(data_dir), data_dir)
    served = local_server.data_dir_for(store_uri)
    return Location(store_uri, served)


def release(location: Location) -> None:
    """This user of the shared local server is done (the server stops after its last)."""
    if location.shared and location.data_dir is not None:
        local_server.detach(location.data_dir)


def open_client(location: Location, token: str = "") -> MilvusClient:
    """Connect to Milvus Lite (a file path) or a server (http[s]:// URI), with clear errors."""
    if local_server.is_local_path(location.uri):
        Path(location.uri).parent.mkdir(parents=True, exist_ok=True)
    quiet = logging.getLogger("milvus_lite.server_manager")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # it logs a traceback for the lock error we explain below
    try:
        return MilvusClient(uri=location.uri, token=token)
    except (MilvusException, OSError, RuntimeError, ValueError) as exc:
        raise StoreError(_open_error(location, exc)) from None
    finally:
        quiet.setLevel(level)


def _open_error(location: Location, exc: Exception) -> str:
    text = str(exc)
    if "lock" in text.lower() or "Open local milvus failed" in text:
        return (
            f"the Milvus Lite index {location.label} is in use by another process (the app or "
            "an ingest); stop it, or serve the index with `milvus-lite server` and point "
            "RAG_STORE_URI at it"
        )
    return f"cannot connect to Milvus at {location.label}: {type(exc).__name__}"
