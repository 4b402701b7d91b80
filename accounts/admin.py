"""Manage the local users file: `python -m accounts.admin add NAME [--admin] [--groups a,b]`,
`passwd NAME`, `remove NAME`, `list`. Passwords are asked for (or read from stdin with
--password-stdin), never taken as an argument, and stored only as Argon2id hashes."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from dataclasses import replace

from accounts.users import (
    Account,
    ApiKey,
    User,
    check_groups,
    check_name,
    hash_password,
    key_hash,
    load_users,
    new_api_key,
    remove_account,
    save_account,
)
from retrieval.cli import fail_cleanly
from retrieval.errors import UserError
from retrieval.settings import load_settings


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m accounts.admin", description=__doc__)
    parser.add_argument("--file", help="users file (default: RAG_USERS_FILE, beside the index)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="add a user, or change one's details")
    add.add_argument("name")
    add.add_argument("--display", default="", help="the name shown in the app")
    add.add_argument("--groups", default="", help="comma-separated groups, e.g. hr,finance")
    add.add_argument("--admin", action="store_true", help="may re-ingest and read feedback")
    for command in (add, commands.add_parser("passwd", help="set a user's password")):
        command.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    commands.choices["passwd"].add_argument("name")
    commands.add_parser("remove", help="remove a user").add_argument("name")
    commands.add_parser("add-key", help="create an API key (shown once)").add_argument("name")
    revoke = commands.add_parser("revoke-key", help="revoke an API key by its id")
    revoke.add_argument("name")
    revoke.add_argument("key_id")
    commands.add_parser("list", help="list users (never their hashes)")
    return parser.parse_args(argv)


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise UserError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with fail_cleanly():
        path = load_settings(users_file=args.file).users_path()
        users = load_users(path)
        for problem in users.problems:
            print(f"warning: {problem}", file=sys.stderr)
        if args.command == "list":
            for account in users.accounts.values():
                u = account.user
                role = "admin" if u.admin else "user"
                print(f"{u.name}\t{u.display}\t{role}\t{','.join(u.groups)}")
            return 0
        name = check_name(args.name)
        if args.command == "remove":
            if not remove_account(path, name):
                raise UserError(f"no user {name!r} in {path}")
            print(f"removed {name}; their sessions end at their next click")
            return 0
        existing = users.accounts.get(name)
        if args.command in ("add-key", "revoke-key"):
            return keys(path, name, existing, args)
        if args.command == "passwd":
            if existing is None:
                raise UserError(f"no user {name!r} in {path}; add them first")
            hashed = hash_password(read_password(args.password_stdin))
            save_account(path, Account(existing.user, hashed, existing.keys))
            print(f"password of {name} changed; their other sessions have ended")
            return 0
        groups = check_groups([g.strip() for g in args.groups.split(",") if g.strip()])
        user = User(name, args.display, groups, args.admin)
        hashed = (
            existing.password_hash
            if existing
            else hash_password(read_password(args.password_stdin))
        )
        save_account(path, Account(user, hashed, existing.keys if existing else ()))
        print(f"{'updated' if existing else 'added'} {name} in {path}")
    return 0


def keys(path, name: str, existing: Account | None, args) -> int:
    """Create or revoke one API key of a user (the key is printed once, stored hashed)."""
    if existing is None:
        raise UserError(f"no user {name!r} in {path}; add them first")
    if args.command == "add-key":
        key_id, key = new_api_key()
        stored = ApiKey(key_id, key_hash(key), time.strftime("%Y-%m-%d"))
        save_account(path, replace(existing, keys=(*existing.keys, stored)))
        print(key)
        print(f"API key {key_id} of {name}, shown only now; revoke: revoke-key {name} {key_id}",
              file=sys.stderr)  # fmt: skip
        return 0
    kept = tuple(k for k in existing.keys if k.id != args.key_id)
    if len(kept) == len(existing.keys):
        raise UserError(f"{name} has no API key {args.key_id!r}")
    save_account(path, replace(existing, keys=kept))
    print(f"revoked API key {args.key_id} of {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
