"""The users file, password checks, throttling and session tokens."""

from __future__ import annotations

import json
import time

import pytest

from accounts.users import (
    Account,
    LoginError,
    LoginThrottle,
    SessionTokens,
    User,
    hash_password,
    load_users,
    password_matches,
    remove_account,
    save_account,
    sign_in,
)


@pytest.fixture(scope="module")
def hashed():
    return hash_password("correct horse")


def test_bad_lines_are_reported_and_the_others_still_work(tmp_path, hashed):
    path = tmp_path / "users.jsonl"
    good = Account(User("ana", "Ana", ("hr",), True), hashed).line()
    path.write_text(
        "\n".join([
            "# comment",
            good,
            "{not json",
            json.dumps({"name": "bo b", "hash": hashed}),
            json.dumps({"name": "cy", "hash": "plain"}),
            json.dumps({"name": "di", "hash": hashed, "groups": "hr"}),
            Account(User("eve"), hashed).line(),
        ]) + "\n"
    )  # fmt: skip
    users = load_users(path)
    assert sorted(users.accounts) == ["ana", "eve"]
    assert users.accounts["ana"].user == User("ana", "Ana", ("hr",), True)
    assert [p.split(":")[0] for p in users.problems] == [
        f"users.jsonl line {n}" for n in (3, 4, 5, 6)
    ]
    # Rewriting for one user keeps every other line, bad ones included, byte for byte.
    save_account(path, Account(User("eve", "Eve"), hashed))
    lines = path.read_text().splitlines()
    assert "{not json" in lines and lines[1] == good
    assert load_users(path).accounts["eve"].user.display == "Eve"
    assert path.stat().st_mode & 0o077 == 0  # owner only: it holds hashes
    assert remove_account(path, "eve") and not remove_account(path, "eve")
    assert "eve" not in load_users(path).accounts and "{not json" in path.read_text()


def test_passwords(hashed):
    assert password_matches(hashed, "correct horse")
    assert not password_matches(hashed, "correct horsE")
    assert not password_matches(None, "correct horse")  # an unknown user never matches
    assert not password_matches("$argon2id$garbage", "x")
    with pytest.raises(Exception, match="8 characters"):
        hash_password("short")


def test_sign_in_throttles_per_user_and_per_address(hashed):
    accounts = {"ana": Account(User("ana"), hashed)}
    throttle = LoginThrottle(limit=3, window_s=60)
    for _ in range(3):
        with pytest.raises(LoginError, match="Wrong user name or password"):
            sign_in(accounts, "ana", "guess", "10.0.0.1", throttle)
    with pytest.raises(LoginError, match="Too many failed sign-ins"):  # even the right one
        sign_in(accounts, "ana", "correct horse", "10.0.0.2", throttle)
    with pytest.raises(LoginError, match="Too many"):  # that address, for another user too
        sign_in(accounts, "bob", "anything1", "10.0.0.1", throttle)
    assert sign_in({**accounts, "bob": Account(User("bob"), hashed)}, "bob", "correct horse",
                   "10.0.0.3", throttle).name == "bob"  # fmt: skip


def test_unknown_user_takes_as_long_as_a_wrong_password(hashed):
    accounts, throttle = {"ana": Account(User("ana"), hashed)}, LoginThrottle(limit=100)

    def timed(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(LoginError):
            sign_in(accounts, name, "wrong password", "a", throttle)
        return time.perf_counter() - start

    known = min(timed("ana") for _ in range(3))
    unknown = min(timed("nobody") for _ in range(3))
    assert 0.5 < unknown / known < 2.0


def test_shared_password_is_the_one_user_staff():
    throttle = LoginThrottle()
    user = sign_in({}, "staff", "staff-only", "a", throttle, shared_password="staff-only")
    assert user.name == "staff" and not user.admin
    with pytest.raises(LoginError):
        sign_in({}, "staff", "staff-onl", "a", throttle, shared_password="staff-only")


def test_session_tokens(tmp_path):
    tokens = SessionTokens(tmp_path / "session.key", lifetime_s=60)
    token = tokens.issue("ana", "hash-1")
    assert tokens.name_in(token) == "ana" and tokens.verify(token, "hash-1")
    assert not tokens.verify(token, "hash-2")  # a new password ends the session
    forged = token.replace(token.split(".")[0], token.split(".")[0][:-2] + "xx")
    assert not tokens.verify(forged, "hash-1")
    assert not SessionTokens(tmp_path / "session.key", lifetime_s=-1).verify(
        SessionTokens(tmp_path / "session.key", lifetime_s=-1).issue("ana", "h"), "h"
    )  # expired
    assert not SessionTokens(tmp_path / "other.key", 60).verify(token, "hash-1")  # other key
    assert (tmp_path / "session.key").stat().st_mode & 0o077 == 0
