"""The write side's seedwork every service builds on: the command context, the aggregate, the repository and the unit
of work. Application code imports these and no web framework.

- `CommandContext`: who asks (actor, principal, scope) and the ids that tie the resulting events to the request
  (correlation id), the command (causation id) and the request's Idempotency-Key. Built once per request by
  `CommandContext.of_request` (the HTTP layer calls it with the policy's principal and the request's headers), or
  for a consumer or a deadline by `CommandContext.following(envelope)`; `wrap` turns a decision into an envelope.
- `Aggregate`: rebuilds from its events (`from_events`), counts them (`version`), and returns new events from a
  decision (`emit` applies and returns them).
- `Repository`: loads an aggregate with its version from its stream and appends its decisions with the expected
  version (`ConcurrencyConflict` on a stale one), inside a unit of work when one is given.
- `UnitOfWork`: one transaction on the store's pool: every load and append made with it commits together, with
  the outbox rows the store writes for the same appends (the store's `topic`), or none does. Works on the
  PostgreSQL store and on `memory.InMemoryEventStore` alike (tests/store_contract.py holds both to one contract).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, Self, TypeVar

from .auth import Principal
from .contract import Contract, default_contract
from .envelope import Envelope, new_id
from .errors import NotFound, RuleViolation

CORRELATION_HEADER, COMMAND_HEADER, IDEMPOTENCY_HEADER = "x-correlation-id", "x-command-id", "idempotency-key"

# what one HTTP request has read already (RequestMemo, installed by kim_runtime.http.create_app): None outside one
_REQUEST_MEMO: contextvars.ContextVar[dict | None] = contextvars.ContextVar("kim_request_memo", default=None)


def request_memo() -> dict | None:
    """A dict that lives as long as the current HTTP request (None outside one: a consumer, the scheduler), for what
    the request would otherwise read twice: e.g. the case the route's policy loaded to find its owner, taken once by
    the command, or a client's data key. Keys are namespaced by their user ("kim_cases.keys", ...)."""
    return _REQUEST_MEMO.get()


class RequestMemo:
    """ASGI middleware: a fresh `request_memo()` for each HTTP request, gone when it ends."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        token = _REQUEST_MEMO.set({})
        try:
            await self.app(scope, receive, send)
        finally:
            _REQUEST_MEMO.reset(token)


@dataclass(frozen=True)
class CommandContext:
    """Who asks, and the ids every event of one command carries: correlation (the request, or the event a consumer
    acts on), causation (the command's id: X-Command-ID, or the event acted on), the Idempotency-Key if sent.
    `municipality`: the municipality events carry when the event itself names none."""

    actor: str
    principal: Principal | None = None  # None: the service itself acting on an event or a deadline
    correlation_id: str = field(default_factory=new_id)
    causation_id: str = field(default_factory=new_id)
    idempotency_key: str | None = None
    municipality: str | None = None

    @classmethod
    def of_request(cls, principal: Principal, headers: Mapping[str, str]) -> CommandContext:
        """The context of an HTTP command, from the principal the route's policy let in and the request's headers
        (the one place X-Correlation-ID, X-Command-ID and Idempotency-Key are read for a command)."""
        return cls(actor=principal.sub, principal=principal,
                   correlation_id=headers.get(CORRELATION_HEADER) or new_id(),
                   causation_id=headers.get(COMMAND_HEADER) or new_id(),
                   idempotency_key=headers.get(IDEMPOTENCY_HEADER))

    @classmethod
    def following(cls, envelope: Envelope, *, actor: str) -> CommandContext:
        """The context of what a consumer or the scheduler does because of `envelope`: caused by it, in its
        correlation (or its own id), by `actor` (the service, or the event's actor: `envelope.actor or SERVICE`)."""
        return cls(actor=actor, correlation_id=envelope.correlation_id or envelope.id,
                   causation_id=envelope.id)

    @property
    def scope(self) -> tuple[str | None, str | None, str | None]:
        """(municipality, team, organisation) of the caller; all None for the service itself."""
        p = self.principal
        return (p.municipality, p.team, p.organisation) if p is not None else (None, None, None)

    def in_municipality(self, municipality: str | None) -> CommandContext:
        """The same context for events of a resource in `municipality` (kept when None)."""
        return replace(self, municipality=municipality or self.municipality)

    def wrap(self, event: Any, *, source: str, subject: str | None = None, municipality: str | None = None,
             key_id: str | None = None, actor: str | None = None) -> Envelope:
        """The envelope of one decision (a contract event) with this command's metadata."""
        return Envelope.wrap(event, source=source, actor=actor or self.actor, correlation_id=self.correlation_id,
                             causation_id=self.causation_id, subject=subject,
                             municipality=municipality or self.municipality, key_id=key_id)


class Aggregate:
    """Base of an event-sourced aggregate. A subclass takes its stream id as its one constructor argument and
    implements `apply(event)`, which changes its state and counts the event in `version`."""

    version: int = 0

    @classmethod
    def from_events(cls, stream_id: str, events: Iterable[Any]) -> Self:
        aggregate = cls(stream_id)
        for event in events:
            aggregate.apply(event)
        return aggregate

    def apply(self, event: Any) -> None:
        raise NotImplementedError

    def emit(self, *events: Any) -> list[Any]:
        """Decisions: apply the new events to this aggregate and return them (for the repository to append)."""
        for event in events:
            self.apply(event)
        return list(events)


class Store(Protocol):
    """What a repository needs of a store: store.EventStore and memory.InMemoryEventStore both are one."""

    pool: Any
    topic: str | None

    async def append(self, stream_id: str, envelopes: Sequence[Envelope], expected_version: int, *,
                     conn: Any = None, writes: Sequence[Any] = ()) -> list: ...

    async def read_stream(self, stream_id: str, *, from_version: int = 1, conn: Any = None) -> list[Envelope]: ...


class UnitOfWork:
    """`async with UnitOfWork(store) as uow:` one connection and transaction (`uow.conn`); loads and appends with
    it commit together at the end of the block, with their outbox rows (to `uow.topic`), or roll back together."""

    def __init__(self, store: Store):
        self.store = store
        self.conn: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def topic(self) -> str | None:
        return self.store.topic

    async def __aenter__(self) -> UnitOfWork:
        self._stack = contextlib.AsyncExitStack()
        self.conn = await self._stack.enter_async_context(self.store.pool.acquire())
        await self._stack.enter_async_context(self.conn.transaction())
        return self

    async def __aexit__(self, *exc_info) -> bool | None:
        stack, self._stack, self.conn = self._stack, None, None
        return await stack.__aexit__(*exc_info)


A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    """Loads one kind of aggregate from the store and appends its decisions with the expected version.

    `make`: the aggregate for a stream id (its class); `source`: the service's CloudEvents source; `missing`:
    what NotFound says for a stream without events (None: load returns the empty aggregate); `kinds`: the event
    classes its streams hold (None: any), a stream of other events is another kind of record (RuleViolation), or,
    with `skip_others`, events the aggregate passes over (a stream that also holds older records of another kind;
    the aggregate's version is then the stream's)."""

    def __init__(self, store: Store, make: Callable[[str], A], *, source: str,
                 missing: Callable[[str], str] | None = None, kinds: tuple[type, ...] | None = None,
                 skip_others: bool = False, contract: Contract | None = None,
                 sealing: Any = None):
        self.store, self.make, self.source, self.missing, self.kinds = store, make, source, missing, kinds
        self.skip_others = skip_others
        self._contract = contract
        self.sealing = sealing  # kim_runtime.sealing.Sealing: seal on append, open on load (None: nothing sealed)

    @property
    def contract(self) -> Contract:
        if self._contract is None:
            self._contract = default_contract()
        return self._contract

    def events(self, envelopes: Iterable[Envelope]) -> list[Any]:
        """The contract's events of stored envelopes (upcast on read by the store)."""
        return [self.contract.parse(e.type, e.schema_version, e.data) for e in envelopes]

    async def load(self, stream_id: str, uow: UnitOfWork | Any = None) -> A:
        """The aggregate as its stream has it now; `version` is the stream's version (the expected version of the
        next append). NotFound for a stream without events when `missing` says why. `uow`: the unit of work (or a
        connection in a transaction the caller holds, e.g. a consumer's; None: read what is committed)."""
        aggregate, _ = await self.load_with_envelopes(stream_id, uow)
        return aggregate

    async def load_with_envelopes(self, stream_id: str, uow: UnitOfWork | Any = None) -> tuple[A, list[Envelope]]:
        """`load`, and the envelopes of the events the aggregate took (for their metadata, e.g. the subject)."""
        envelopes = await self.store.read_stream(stream_id, conn=_conn(uow))
        aggregate, taken = self.make(stream_id), []
        events = self.events(envelopes)
        if self.sealing is not None:  # an erased client's sealed fields stay sealed: the aggregate copes
            opened = await self.sealing.unsealer.open_all([e.model_copy(update={"event": ev})
                                                           for e, ev in zip(envelopes, events, strict=True)])
            events = [o.event if o is not None else ev for o, ev in zip(opened, events, strict=True)]
        for envelope, event in zip(envelopes, events, strict=True):
            if self.kinds is not None and not isinstance(event, self.kinds):
                if self.skip_others:
                    continue
                raise RuleViolation(f"id {stream_id} is already used by a {envelope.type.rsplit('.', 1)[1]} stream: "
                                    "choose another id")
            aggregate.apply(event)
            taken.append(envelope)
        if not envelopes and self.missing is not None:
            raise NotFound(self.missing(stream_id))
        if self.skip_others and envelopes:
            aggregate.version = envelopes[-1].stream_version
        return aggregate, taken

    async def append(self, stream_id: str, expected_version: int, events: Sequence[Any], ctx: CommandContext, *,
                     uow: UnitOfWork | Any = None, subject: str | None = None,
                     municipality: str | None | Callable[[Any], str | None] = None,
                     key_id: Callable[[Any], str | None] | None = None,
                     writes: Sequence[Any] = ()) -> list[Envelope]:
        """Append decisions to a stream that must be at `expected_version` (ConcurrencyConflict otherwise); returns
        the appended envelopes (the last one's `stream_version` is the stream's new version). `municipality`: the
        events' (or, a function: each event's; None: the context's); `key_id`: the data key an event's encrypted
        fields use, if any; `writes` (store.Write): more writes made in the append's own statement."""
        where = municipality if callable(municipality) else (lambda _: municipality)
        stored = events if self.sealing is None else await self.sealing.seal(list(events), subject)
        # the envelope's `event` is the decision in clear (the schedule reads it inside the append); `data` as stored
        envelopes = [ctx.wrap(s, source=self.source, subject=subject, municipality=where(e),
                              key_id=key_id(s) if key_id else None).model_copy(update={"event": e})
                     for e, s in zip(events, stored, strict=True)]
        recorded = await (self.store.append(stream_id, envelopes, expected_version, conn=_conn(uow), writes=writes)
                          if writes else self.store.append(stream_id, envelopes, expected_version, conn=_conn(uow)))
        return [r.envelope for r in recorded]


def connection(uow: UnitOfWork | Any) -> Any:
    """The connection of a unit of work (or the connection given instead of one: a consumer's, in its transaction)."""
    return uow.conn if isinstance(uow, UnitOfWork) else uow


_conn = connection
