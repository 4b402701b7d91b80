"""Shared command-line plumbing: one-line errors instead of tracebacks."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from retrieval.errors import UserError
from retrieval.store import MILVUS_ERRORS


@contextmanager
def fail_cleanly(*expected: type[Exception]) -> Iterator[None]:
    """Turn the errors a user can act on into one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        yield
    except (UserError, ValueError, OSError, *expected) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            message = f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
        else:
            message = str(exc)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(getattr(exc, "exit_status", 2)) from None
    except MILVUS_ERRORS as exc:
        print(f"error: Milvus refused the request: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
