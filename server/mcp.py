"""The docs as tools for assistants: an MCP server (the official `mcp` SDK) over the same
answer pipeline and the same access rules as the chat and the API.

Tools `search_docs(query, k, knowledge)` and `ask_docs(question, knowledge)` (`knowledge`: the
names of the knowledge bases to search, none for all); the resource `docs://documents` lists
the documents the caller may read, grouped by knowledge base. Two transports:

    python -m server.mcp                      # stdio, for a local assistant;
                                                        # the caller's key in DOCS_QA_API_KEY
    python -m server.mcp --http --port 8700   # streamable HTTP on 127.0.0.1/mcp;
                                                        # `Authorization: Bearer <API key>`

Keys are the users' API keys (`python -m accounts.admin add-key NAME`); the user is looked up again
on every call, so a revoked key or a removed group takes effect at once. The limits every front
door shares (`retrieval.limits`) hold here too, before any work: the query's length, k from 1 to
50 as an integer (not "5", not true), a rate per user, a time budget per call; a refusal is the
SDK's tool error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from pydantic import Field

from accounts.users import User, current_users, user_for_key
from retrieval.access import Access
from retrieval.answer import Answer, answer_question
from retrieval.errors import UserError
from retrieval.limits import (
    K_MAX,
    K_MIN,
    MAX_BASE_NAME,
    MAX_BASES,
    Limits,
    RateLimit,
    check_k,
    check_knowledge,
    within_budget,
)
from retrieval.llm import LLMError, open_chat
from retrieval.search import Retriever
from retrieval.settings import Settings, load_settings
from server.serving import ReadableBases, open_served, passage_fields, source_fields

KEY_ENV = "DOCS_QA_API_KEY"
# Strict types in the tools' schemas: the SDK refuses "5" or true for k itself; the length of
# a query (its setting) is Docs' first check, before any work.
Text = Annotated[str, Field(strict=True)]
K = Annotated[int, Field(strict=True, ge=K_MIN, le=K_MAX)]
Name = Annotated[str, Field(strict=True, max_length=MAX_BASE_NAME)]
Bases = Annotated[list[Name] | None, Field(max_length=MAX_BASES)]


class Docs:
    """The tools' work, for whoever `who()` says is asking."""

    def __init__(self, settings: Settings, retriever: Retriever, who: Callable[[], User]):
        self.settings, self.retriever, self.who = settings, retriever, who
        self.bases = ReadableBases(retriever)
        self.limits = Limits.of(settings)
        self.rate = RateLimit(settings.api_rate_per_minute)

    def access(self, knowledge: list[str] | None = None) -> Access:
        """The caller's documents, within the knowledge bases named (UserError for a base
        they may not read, or that does not exist)."""
        return self.bases.scope(self.who().access, knowledge)

    def admit(self, text: object, what: str, knowledge: object) -> tuple[str, Access]:
        """The shared checks, cheapest first, before any work: length and type, the bases,
        the caller's rate (LimitError / UserError)."""
        text = self.limits.question(text, what)
        names = check_knowledge(knowledge)
        self.rate.check(self.who().name)
        return text, self.access(names)

    def search(self, query: str, k: int = 5, knowledge: list[str] | None = None) -> list[dict]:
        k = check_k(k)
        query, access = self.admit(query, "query", knowledge)
        hits = within_budget(self.limits.budget_s,
                             lambda: self.retriever.search(query, k, access=access))  # fmt: skip
        return [passage_fields(h) for h in hits]

    def ask(self, question: str, knowledge: list[str] | None = None) -> dict:
        question, access = self.admit(question, "question", knowledge)
        return within_budget(self.limits.budget_s, self._answer, question, access)

    def _answer(self, question: str, access: Access) -> dict:
        chat = None
        if self.settings.llm:
            try:
                chat = open_chat(self.settings)
            except LLMError:
                chat = None  # no usable model: the passages, as the chat does
        events = answer_question(
            question, [], self.retriever, chat, self.settings, None, access=access
        )
        final = [e for e in events if isinstance(e, Answer)][-1]
        sources = source_fields(final, with_text=False)
        return {
            "answer": final.answer or final.error,
            "status": final.status,
            "weak_match": final.weak_match,
            "unsupported": final.unsupported,
            "sources": sources,
            "knowledge": list(final.knowledge),
            "elsewhere": final.elsewhere,  # a readable base not searched that matches strongly
        }

    def documents(self) -> list[dict]:
        """The documents the caller may read, one entry per knowledge base."""
        known = self.settings.knowledge()
        found = self.retriever.store.documents_by_base(access=self.access())
        return [
            {"knowledge": name, "title": known.base(name).label(),
             "description": known.base(name).about(), "documents": sorted(docs)}
            for name, docs in found.items()
        ]  # fmt: skip


def user_of_key(settings: Settings, key: str) -> User:
    user = user_for_key(current_users(settings.users_path()).accounts, key) if key else None
    if user is None:
        raise UserError("missing, unknown or revoked API key")
    return user


def build(docs: Docs, **server_options):
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="docs-qa", instructions="Search and ask the team's documents.",
                       **server_options)  # fmt: skip

    @server.tool(
        description="Top passages for a query: doc, heading path, pages, relevance, knowledge "
        "base. `knowledge`: names of knowledge bases to search (see docs://documents); "
        "none searches all you may read."
    )
    def search_docs(query: Text, k: K = 5, knowledge: Bases = None) -> str:
        with said_plainly():
            return json.dumps(docs.search(query, k, knowledge), ensure_ascii=False)

    @server.tool(
        description="Answer a question from the documents, citing its sources. `knowledge`: "
        "names of knowledge bases to search (see docs://documents); none searches all."
    )
    def ask_docs(question: Text, knowledge: Bases = None) -> str:
        with said_plainly():
            return json.dumps(docs.ask(question, knowledge), ensure_ascii=False)

    @server.resource(
        "docs://documents", description="The documents you may read, by knowledge base."
    )
    def documents() -> str:
        return json.dumps(docs.documents(), ensure_ascii=False)

    return server


@contextmanager
def said_plainly() -> Iterator[None]:
    """A problem the caller can act on (an unknown knowledge base, a bad key) reaches them as
    the tool's error text; the SDK hides other exceptions' messages."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        yield
    except UserError as exc:
        raise ToolError(str(exc)) from None


class KeyVerifier:
    """The SDK's bearer check, with our API keys: the token names the user."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def verify_token(self, token: str):
        from mcp.server.auth.provider import AccessToken

        try:
            user = user_of_key(self.settings, token)
        except UserError:
            return None
        return AccessToken(token=token, client_id=user.name, scopes=[], subject=user.name)


def http_user(settings: Settings) -> User:
    """The user of the current HTTP request, looked up again from their key."""
    from mcp.server.auth.middleware.auth_context import get_access_token

    token = get_access_token()
    return user_of_key(settings, token.token if token else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server.mcp", description=__doc__)
    parser.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700)
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        retriever = open_served(settings)[1]  # makes the data folder private first
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if not args.http:
            user = user_of_key(settings, os.environ.get(KEY_ENV, ""))
            build(
                Docs(
                    settings, retriever, lambda: user_of_key(settings, os.environ[KEY_ENV]) or user
                )
            ).run()
            return 0
    except UserError as exc:
        print(f"error: {exc} (set {KEY_ENV})", file=sys.stderr)
        return 2
    from mcp.server.auth.settings import AuthSettings

    url = f"http://{args.host}:{args.port}"
    auth = AuthSettings(issuer_url=url, resource_server_url=f"{url}/mcp")
    server = build(Docs(settings, retriever, lambda: http_user(settings)),
                   token_verifier=KeyVerifier(settings), auth=auth)  # fmt: skip
    server.run("streamable-http", host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
