"""Who is asking: the local users file, password checks, login throttling, session tokens.

The users file is JSON lines, one user a line (`name`, `display`, `groups`, `admin`, `hash`),
so a bad line is reported and skipped while the others still sign in. Passwords are hashed with
Argon2id (argon2-cffi); an unknown name is checked against a dummy hash so that its answer takes
as long as a wrong password. The app, the users command and (later) the API share this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from retrieval.access import ALL, GROUP, Access
from retrieval.errors import UserError
from retrieval.files import write_atomic
from retrieval.private import make_folder

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
SHARED_USER = "staff"  # the one user of the old shared password (RAG_APP_PASSWORD)
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not a password anybody has")


class LoginError(UserError):
    """A sign-in that did not succeed; the message is safe to show (it never says which part)."""


@dataclass(frozen=True)
class User:
    """The person behind a session, as every page and action checks it."""

    name: str
    display: str = ""
    groups: tuple[str, ...] = ()
    admin: bool = False

    @property
    def label(self) -> str:
        return self.display or self.name

    @property
    def access(self) -> Access:
        """What this user's searches may read: admins everything, others their groups."""
        return ALL if self.admin else Access.of(self.groups)


@dataclass(frozen=True)
class ApiKey:
    """One of a user's API keys, as stored: its id and the sha256 of the whole key."""

    id: str
    hash: str
    created: str = ""


@dataclass(frozen=True)
class Account:
    """A line of the users file: the user, their password hash and API keys (hashed)."""

    user: User
    password_hash: str
    keys: tuple[ApiKey, ...] = ()

    def line(self) -> str:
        u = self.user
        record = {"name": u.name, "display": u.display, "groups": list(u.groups)}
        record |= {"admin": u.admin, "hash": self.password_hash}
        if self.keys:
            record["keys"] = [{"id": k.id, "hash": k.hash, "created": k.created} for k in self.keys]
        return json.dumps(record, ensure_ascii=False)


@dataclass
class UsersFile:
    """The parsed file: accounts by name, the lines that could not be read, and the raw lines
    (so rewriting the file keeps a bad line as it was, for its owner to fix)."""

    path: Path
    accounts: dict[str, Account] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise UserError(f"invalid user name {name!r}: use letters, digits and . _ @ - (at most 64)")
    return name


def check_groups(groups: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    bad = [g for g in groups if not GROUP.match(g)]
    if bad:
        raise UserError(f"invalid group name(s) {bad}: use letters, digits and . _ -")
    return tuple(dict.fromkeys(groups))


def parse_line(text: str) -> Account:
    """One users-file line -> Account (ValueError says what is wrong)."""
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    name, hashed = record.get("name"), record.get("hash")
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError("missing or invalid 'name'")
    if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
        raise ValueError("missing or invalid 'hash' (set it with: python -m accounts.admin passwd)")
    groups = record.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ValueError("'groups' must be a list of names")
    try:
        checked = check_groups(groups)
    except UserError as exc:
        raise ValueError(str(exc)) from None
    display = record.get("display") or ""
    user = User(name, str(display), checked, record.get("admin") is True)
    keys = record.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise ValueError("'keys' must be a list of objects")
    try:
        parsed = tuple(
            ApiKey(str(k["id"]), str(k["hash"]), str(k.get("created", ""))) for k in keys
        )
    except KeyError as exc:
        raise ValueError(f"an API key lacks {exc}") from None
    return Account(user, hashed, parsed)


_VIEWS: dict[Path, tuple[tuple[int, int, int] | None, UsersFile]] = {}
_VIEWS_LOCK = threading.Lock()


def current_users(path: Path) -> UsersFile:
    """The users file as it is now, read again only when it changed: the one cached view the
    app, the API and the MCP server share (a removed user is out on their next request)."""
    try:
        seen = path.stat()
        stamp = (seen.st_mtime_ns, seen.st_size, seen.st_ino)  # a rewrite is a new inode
    except OSError:
        stamp = None
    with _VIEWS_LOCK:
        cached = _VIEWS.get(path)
        if cached is None or cached[0] != stamp:
            cached = _VIEWS[path] = (stamp, load_users(path))
        return cached[1]


def load_users(path: Path) -> UsersFile:
    """Read the users file (a missing file has no users); bad lines are reported, not fatal."""
    users = UsersFile(path)
    if not path.exists():
        return users
    users.lines = path.read_text(encoding="utf-8").splitlines()
    for number, text in enumerate(users.lines, 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            account = parse_line(text)
        except ValueError as exc:
            users.problems.append(f"{path.name} line {number}: {exc}; that line is ignored")
            continue
        if account.user.name in users.accounts:
            users.problems.append(f"{path.name} line {number}: {account.user.name!r} again")
            continue
        users.accounts[account.user.name] = account
    return users


def save_account(path: Path, account: Account) -> None:
    """Add or replace one user's line; every other line (bad ones too) stays as it was."""
    users = load_users(path)
    name, lines, done = account.user.name, [], False
    for text in users.lines:
        if _line_name(text) == name:
            if not done:
                lines.append(account.line())
            done = True
        else:
            lines.append(text)
    if not done:
        lines.append(account.line())
    _write_lines(path, lines)


def remove_account(path: Path, name: str) -> bool:
    """Drop a user's line; False when there was none."""
    users = load_users(path)
    kept = [text for text in users.lines if _line_name(text) != name]
    if len(kept) == len(users.lines):
        return False
    _write_lines(path, kept)
    return True


def _line_name(text: str) -> str | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record.get("name") if isinstance(record, dict) else None


def _write_lines(path: Path, lines: list[str]) -> None:
    """Atomic rewrite, readable by its owner only (it holds password hashes)."""
    write_atomic(path, "".join(f"{line}\n" for line in lines), mode=0o600)


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise UserError("a password needs at least 8 characters")
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Argon2 check; with no hash (unknown user) a dummy one is checked, taking as long."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class LoginThrottle:
    """Failed sign-ins per user and per address: after `limit` failures inside `window_s`,
    that user (or address) waits `window_s` from the last failure. Thread-safe, in memory."""

    def __init__(self, limit: int = 5, window_s: float = 300.0):
        self.limit, self.window_s = limit, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, *keys: str) -> float:
        """Seconds until these keys may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = [self._wait(key, now) for key in keys]
        return max(waits, default=0.0)

    def _wait(self, key: str, now: float) -> float:
        failures = self._failures.get(key)
        if not failures:
            return 0.0
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        if len(failures) < self.limit:
            return 0.0
        return max(0.0, failures[-1] + self.window_s - now)

    def failed(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque(maxlen=self.limit)).append(time.monotonic())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


def sign_in(
    accounts: dict[str, Account],
    name: str,
    password: str,
    address: str,
    throttle: LoginThrottle,
    shared_password: str | None = None,
) -> User:
    """The user for a name and password, or LoginError. The old shared password signs in as
    the one user 'staff' (compared in constant time)."""
    keys = (f"user:{name.lower()}", f"addr:{address}")
    wait = throttle.wait_s(*keys)
    if wait > 0:
        raise LoginError(f"Too many failed sign-ins. Try again in {int(wait) + 1} seconds.")
    account = accounts.get(name)
    if account is not None:
        ok = password_matches(account.password_hash, password)
    elif shared_password is not None and name == SHARED_USER:
        ok = hmac.compare_digest(password.encode(), shared_password.encode())
    else:
        ok = password_matches(None, password)
    if not ok:
        throttle.failed(*keys)
        raise LoginError("Wrong user name or password.")
    throttle.succeeded(keys[0])
    return account.user if account else User(SHARED_USER, "Staff")


KEY_PREFIX = "dqa_"


def new_api_key() -> tuple[str, str]:
    """(key id, the key itself): shown once, stored only as its sha256."""
    key_id = secrets.token_hex(4)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def user_for_key(accounts: dict[str, Account], key: str) -> User | None:
    """The user an API key belongs to (None: unknown, revoked, or malformed)."""
    if not key.startswith(KEY_PREFIX) or key.count("_") < 2:
        return None
    key_id = key[len(KEY_PREFIX) :].split("_", 1)[0]
    digest = key_hash(key)
    for account in accounts.values():
        for stored in account.keys:
            if stored.id == key_id and hmac.compare_digest(stored.hash, digest):
                return account.user
    return None


def with_groups(user: User, groups: list[str]) -> User:
    """A user whose groups come from elsewhere (an OIDC claim), invalid names dropped."""
    return replace(user, groups=tuple(g for g in dict.fromkeys(groups) if GROUP.match(g)))


class SessionTokens:
    """Signed tokens that keep a browser signed in across reloads (the app puts one in a
    cookie). A token names the user and its expiry and is bound to the user's password hash,
    so a new password or a removed user ends every session."""

    def __init__(self, key_path: Path, lifetime_s: float):
        self.key_path, self.lifetime_s = key_path, lifetime_s

    def issue(self, name: str, binding: str) -> str:
        payload = f"{name}|{int(time.time() + self.lifetime_s)}|{secrets.token_hex(8)}"
        encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{encoded}.{self._sign(encoded, binding)}"

    def name_in(self, token: str) -> str | None:
        """The user a token claims (unverified: look up their binding, then `verify`)."""
        try:
            payload = base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return payload.split("|")[0] or None

    def verify(self, token: str, binding: str) -> bool:
        encoded, _, signature = token.partition(".")
        if not hmac.compare_digest(signature, self._sign(encoded, binding)):
            return False
        payload = base64.urlsafe_b64decode(encoded + "==").decode()
        return int(payload.split("|")[1]) > time.time()

    def _sign(self, encoded: str, binding: str) -> str:
        message = f"{encoded}|{hashlib.sha256(binding.encode()).hexdigest()}".encode()
        return hmac.new(self._key(), message, hashlib.sha256).hexdigest()

    def _key(self) -> bytes:
        """A random key created on first use, readable by its owner only."""
        if not self.key_path.exists():
            make_folder(self.key_path.parent)
            try:
                fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return self.key_path.read_bytes()
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        return self.key_path.read_bytes()
