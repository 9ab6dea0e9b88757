"""Count PostgreSQL round trips made on behalf of one piece of work (e.g. one HTTP request), on the real database.

Every pooled asyncpg connection's protocol is wrapped (`counting`) by a proxy that records each exchange that waits
for the server: a simple query (`BEGIN`, `COMMIT`, a statement without arguments), a statement's preparation (once
per connection and statement text, then cached), an execution of a prepared statement, a COPY, a statement closed.
Only calls made inside `RoundTrips.measure()` (a context variable: the request's task and what it starts) are
recorded, so the service's background work (relay, consumers, scheduler) does not blur the count."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field

import asyncpg

_ACTIVE: contextvars.ContextVar[RoundTrips | None] = contextvars.ContextVar("kim_test_round_trips", default=None)

# the protocol methods that send a message ending in Sync (or a simple Query) and wait for the answer: one round trip
_EXCHANGES = {"query": "query", "prepare": "prepare", "bind_execute": "execute", "bind_execute_many": "execute",
              "bind": "execute", "execute": "execute", "copy_in": "copy", "copy_out": "copy",
              "close_statement": "close"}


@dataclass
class RoundTrips:
    calls: list[tuple[str, str]] = field(default_factory=list)  # (kind, statement text), in order

    @contextlib.contextmanager
    def measure(self):
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def steady(self) -> list[tuple[str, str]]:
        """The round trips a warm connection makes: without statement preparations and asyncpg's type
        introspection (each done once per connection, then cached)."""
        return [(kind, text) for kind, text in self.calls if kind != "prepare" and not _introspection(text)]

    def count(self) -> int:
        return len(self.steady())

    def statements(self) -> list[str]:
        return [f"{kind}: {' '.join(text.split())[:160]}" for kind, text in self.steady()]


class _Counting:
    def __init__(self, protocol):
        object.__setattr__(self, "_inner", protocol)

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        kind = _EXCHANGES.get(name)
        if kind is None or not callable(attr):
            return attr

        async def counted(*args, **kwargs):
            if (rt := _ACTIVE.get()) is not None:
                rt.calls.append((kind, _text(kind, args, kwargs)))
            result = await attr(*args, **kwargs)
            if kind == "prepare":  # the statement's text, to name its executions
                _TEXTS[id(result)] = (result, str(args[1]) if len(args) > 1 else "")
            return result

        return counted

    def __setattr__(self, name, value):
        setattr(self._inner, name, value)


def _introspection(text: str) -> bool:
    return "typeinfo_tree" in text or "set_config('jit'" in text


_TEXTS: dict[int, tuple[object, str]] = {}  # id(prepared statement) -> (it, kept alive so the id stays its own; text)


def _text(kind: str, args: tuple, kwargs: dict) -> str:
    if kind == "query" and args:
        return str(args[0])
    if kind == "prepare" and len(args) > 1:
        return str(args[1])
    state = kwargs.get("state", args[0] if args else None)
    if (known := _TEXTS.get(id(state))) is not None:
        return known[1]
    return "?"


def counting(conn: asyncpg.Connection) -> None:
    """Wrap one connection's protocol (idempotent)."""
    if not isinstance(conn._protocol, _Counting):
        conn._protocol = _Counting(conn._protocol)


def install(monkeypatch) -> None:
    """Every pool kim_runtime.db makes from now on counts (its connections' init wraps them)."""
    from kim_runtime import db

    original = db._init_connection

    async def init(conn):
        counting(conn)
        await original(conn)

    monkeypatch.setattr(db, "_init_connection", init)
