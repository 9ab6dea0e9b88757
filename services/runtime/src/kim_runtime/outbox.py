"""The outbox relay: publishes appended events to Kafka in order, marks them sent; nothing is lost while Kafka is down.

One relay per database publishes at a time: the holder of the lease row `relay_lease` (migration 005). A relay
takes the lease only once it has expired (its holder died or lost the database), and every new holder gets a
higher fencing token. The leader renews the lease in the background, publishes a batch only while its lease is
surely valid (it stops `margin` seconds before the database's clock could let anyone else take it), and marks a
batch sent in one transaction with a check of its token under the lease row's lock: a relay whose lease was taken
marks nothing and steps back to follower. A leader that stops cleanly gives the lease back, so a follower takes
over at once; one that dies is replaced when its lease expires (`lease_s`, default 5 s).

Rows are published in position order in batches; the producer is idempotent, so a batch retried after a failure
keeps its order. A confirmed batch whose mark was lost with the database is marked, not published again, as long as
the relay still holds the same token. So a consumer sees a repeat (absorbed by its inbox) only of a batch published
by a relay that died, or lost its lease, between publishing and marking it sent, or one the broker wrote but died
before acknowledging. LISTEN/NOTIFY wakes the relay at once; its connection is reopened whenever it is lost, and
until then the relay polls every `poll_interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from enum import StrEnum

import asyncpg
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind

from . import telemetry
from .envelope import Envelope
from .kafka import send_record
from .resilience import RateLimitedLog, is_unavailable
from .store import row_to_envelope
from .topics import is_partner_topic

log = logging.getLogger(__name__)

LEASE = "outbox"
ACK_TIMEOUT_S = 30.0  # a leader waits this long for Kafka's acks of a batch, then publishes it again

_FETCH = """
SELECT o.position, o.topic, e.event_id, e.stream_id, e.version, e.type, e.schema_version, e.occurred_at,
       e.metadata, e.data
FROM outbox o JOIN events e USING (position)
WHERE o.sent_at IS NULL ORDER BY o.position LIMIT $1
"""
def _publish_attributes(topic: str, env: Envelope) -> dict:
    """What a publish span says: the topic and the event's type, never an id of a person."""
    return {"messaging.system": "kafka", "messaging.operation.type": "publish", "messaging.destination.name": topic,
            "kim.event.type": env.type}


_BACKLOG = "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
_ACQUIRE = """
UPDATE relay_lease
SET holder = $2, token = token + 1, acquired_at = now(), expires_at = now() + make_interval(secs => $3)
WHERE name = $1 AND expires_at <= now() RETURNING token
"""
# Renewing needs only the token: while it is unchanged nobody else took the lease, even if it expired meanwhile.
_RENEW = "UPDATE relay_lease SET expires_at = now() + make_interval(secs => $3) WHERE name = $1 AND token = $2 " \
         "RETURNING token"
_RELEASE = "UPDATE relay_lease SET expires_at = now() WHERE name = $1 AND token = $2"


class RelayState(StrEnum):
    STARTING = "starting"  # not running yet (waits for Kafka) or being restarted by its supervisor
    FOLLOWER = "follower"  # another relay holds the lease; this one takes over when it expires
    LEADER = "leader"  # holds the lease and publishes
    UNAVAILABLE = "unavailable"  # cannot reach the database to take or renew the lease
    STOPPED = "stopped"


class LeadershipLost(Exception):
    """The lease was taken by another relay, or could not be renewed in time: stop publishing."""


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        *,
        dsn: str,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        lease_s: float = 5.0,
        on_published: Callable[[int], None] | None = None,
        on_lead: Callable[[], None] | None = None,
    ):
        self.pool = pool
        self.broker = broker
        self.dsn = dsn
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease_s = lease_s
        self.renew_every = lease_s / 5
        self.margin = lease_s * 0.3  # stop publishing this long before the lease could expire
        self.on_published, self.on_lead = on_published, on_lead
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._unmarked: list[int] = []  # positions of a confirmed batch whose mark did not reach the database
        self.published = 0
        self.state = RelayState.STARTING
        self.token: int | None = None
        self.valid_until = 0.0  # monotonic time until which the lease is surely ours
        self.listening = False
        self.listens = 0  # times the LISTEN connection was opened (1 + reconnections)
        self.leaderships = 0
        self.backlog = 0  # unsent rows as the leader last saw them: 0 after a batch that was not full
        self.last_error: str | None = None  # why the last batch or lease query failed (None after a success)
        self._db_log = RateLimitedLog(log, "outbox relay cannot reach the database")
        self._kafka_log = RateLimitedLog(log, "outbox relay could not publish")
        self._listen_log = RateLimitedLog(log, "outbox relay's LISTEN connection is lost; polling meanwhile")

    def _notified(self, *_args) -> None:
        self._wake.set()

    @property
    def healthy(self) -> bool:
        """Leader or follower and its last attempt worked: what /readyz reports."""
        return self.state in (RelayState.LEADER, RelayState.FOLLOWER) and self.last_error is None

    async def run(self) -> None:
        """Run until cancelled: listen, wait for the lease, relay while it lasts, and wait again if it is lost."""
        self.last_error = None  # a restart by the supervisor starts clean
        listener = asyncio.create_task(self._listen_forever(), name="outbox-listener")
        try:
            while True:
                await self._acquire()
                try:
                    await self._lead()
                except LeadershipLost as lost:
                    log.warning("outbox relay %s is no longer the leader: %s", self.holder, lost)
                    self.token, self.state, self._unmarked = None, RelayState.FOLLOWER, []
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener
            await self._release()
            self.state = RelayState.STOPPED

    # -- the lease ------------------------------------------------------------------------------------------
    async def _lease_query(self, sql: str, *args) -> int | None:
        async with self.pool.acquire(timeout=self.lease_s) as conn:
            return await conn.fetchval(sql, LEASE, *args, timeout=self.lease_s)

    async def _acquire(self) -> None:
        if self.state is not RelayState.UNAVAILABLE:
            self.state = RelayState.FOLLOWER
        while True:
            asked = time.monotonic()
            try:
                token = await self._lease_query(_ACQUIRE, self.holder, self.lease_s)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._db_unavailable(exc)
            else:
                self._db_back()
                if token is not None:
                    self.token, self.valid_until = token, asked + self.lease_s
                    self.state, self.leaderships = RelayState.LEADER, self.leaderships + 1
                    if self.on_lead:
                        self.on_lead()
                    log.info("outbox relay %s is the leader for this database (token %d)", self.holder, token)
                    self._wake.set()
                    return
                self.state = RelayState.FOLLOWER
            await asyncio.sleep(min(0.5, self.renew_every))

    async def _renew(self) -> None:
        asked = time.monotonic()
        token = await self._lease_query(_RENEW, self.token, self.lease_s)
        if token is None:
            raise LeadershipLost(f"lease token {self.token} was taken over")
        self.valid_until = asked + self.lease_s

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self._renew()
                self._db_back()
            except LeadershipLost:
                raise
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._db_unavailable(exc)  # the lease may still be valid: the relay loop watches valid_until

    async def _release(self) -> None:
        if self.token is None:
            return
        token, self.token = self.token, None
        with contextlib.suppress(Exception):  # the database may be gone: then the lease simply expires
            await asyncio.wait_for(self._lease_query(_RELEASE, token), timeout=2)
            log.info("outbox relay %s gave the lease back (token %d)", self.holder, token)

    def _db_unavailable(self, exc: BaseException) -> None:
        self.last_error = f"database unavailable: {exc!r}"
        if self.state is not RelayState.LEADER:
            self.state = RelayState.UNAVAILABLE
        self._db_log.failed(repr(exc))

    def _db_back(self) -> None:
        if self.last_error and self.last_error.startswith("database"):
            self.last_error = None
        self._db_log.recovered()

    def lease_left(self) -> float:
        return self.valid_until - time.monotonic()

    # -- relaying -------------------------------------------------------------------------------------------
    async def _lead(self) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(), name="outbox-lease")
        try:
            await self._relay_while_leader(heartbeat)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(BaseException):
                await heartbeat

    async def _relay_while_leader(self, heartbeat: asyncio.Task) -> None:
        backoff = 0.2
        while True:
            if heartbeat.done():
                heartbeat.result()  # raises LeadershipLost (or what broke it)
            if self.lease_left() <= self.margin:
                if self.lease_left() <= 0:
                    raise LeadershipLost("the lease could not be renewed before it expired")
                await asyncio.sleep(min(0.1, self.renew_every))  # publish nothing until the heartbeat renews it
                continue
            self._wake.clear()
            try:
                sent = await self.relay_once()
                backoff = 0.2
            except (asyncio.CancelledError, LeadershipLost):
                raise
            except Exception as exc:  # Kafka or the database unreachable, timeouts: rows stay unsent, retried
                self.last_error = f"{'database unavailable' if is_unavailable(exc) else 'publishing failed'}: {exc!r}"
                self._kafka_log.failed(repr(exc), f"; retrying in {backoff:.1f} s")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows while the lease is surely ours; returns how many were sent."""
        if self.token is None:
            raise LeadershipLost("not the leader")
        if self._unmarked:  # published and confirmed under this token, but the database went away before the mark
            await self._mark_sent(self._unmarked)
            return self._sent(len(self._unmarked))
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(_FETCH, self.batch_size)
            self.backlog = len(rows) if len(rows) < self.batch_size else await conn.fetchval(_BACKLOG)
        if not rows:
            self._published_ok()
            return 0
        if self.lease_left() <= self.margin:
            raise LeadershipLost("the lease is about to expire; not publishing")
        futures = []
        for row in rows:
            if self.lease_left() <= self.margin:  # sending can block while Kafka is away; the lease may run low
                raise LeadershipLost("the lease ran low while the batch was being sent")
            env = row_to_envelope(row, upcast=False)
            with telemetry.span(f"{row['topic']} publish", kind=SpanKind.PRODUCER, parent=env.traceparent,
                                attributes=_publish_attributes(row["topic"], env)):
                headers = env.kafka_headers()
                if env.traceparent:  # consumers continue from this publish (never on a partner topic: see store)
                    headers["ce_traceparent"] = telemetry.current_traceparent()
                if is_partner_topic(row["topic"]):  # exactly the documented headers; tombstones stay null
                    futures.append(await send_record(self.broker, row["topic"], key=env.kafka_key(),
                                                     value=env.kafka_value(), headers=headers))
                    continue
                futures.append(
                    await self.broker.publish(
                        env.kafka_value(),
                        row["topic"],
                        key=env.kafka_key(),
                        headers=headers,
                        correlation_id=env.correlation_id or env.id,  # faststream always writes this header too
                        no_confirm=True,
                    )
                )
        await self._confirmed(asyncio.gather(*futures))
        self._unmarked = [r["position"] for r in rows]
        await self._mark_sent(self._unmarked)
        return self._sent(len(rows))

    def _sent(self, n: int) -> int:
        self._unmarked = []
        self.published += n
        self._published_ok()
        if self.on_published:
            self.on_published(n)
        return n

    async def _confirmed(self, acks: asyncio.Future) -> None:
        """Wait for Kafka's acks while the lease stays ours (the heartbeat renews it meanwhile). If it cannot be
        renewed in time, give up before it expires: the batch, in doubt, is then published by the next leader."""
        give_up = time.monotonic() + ACK_TIMEOUT_S
        while not acks.done():
            left = self.lease_left() - self.margin / 2
            if left <= 0 or time.monotonic() > give_up:
                acks.cancel()
                with contextlib.suppress(BaseException):
                    await acks
                if left <= 0:
                    raise LeadershipLost("Kafka did not confirm the batch before the lease ran out")
                raise TimeoutError(f"Kafka did not confirm the batch within {ACK_TIMEOUT_S} s")  # sent again
            await asyncio.wait([acks], timeout=min(left, self.renew_every))
        acks.result()

    async def _mark_sent(self, positions: list[int]) -> None:
        """Mark the batch sent and renew the lease in one transaction, only if the token is still ours."""
        asked = time.monotonic()
        async with self.pool.acquire() as conn, conn.transaction():
            if await conn.fetchval(_RENEW, LEASE, self.token, self.lease_s) is None:
                raise LeadershipLost(f"lease token {self.token} was taken over; the batch is left for the new leader")
            await conn.execute("UPDATE outbox SET sent_at = now() WHERE position = ANY($1::bigint[])", positions)
        self.valid_until = asked + self.lease_s

    def _published_ok(self) -> None:
        self.last_error = None
        self._kafka_log.recovered()

    async def pending(self) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")

    # -- LISTEN ---------------------------------------------------------------------------------------------
    async def _listen_forever(self) -> None:
        """Keep a LISTEN connection open: reopened with backoff when lost (the relay polls meanwhile)."""
        backoff = 0.2
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _c: closed.set())
                await conn.add_listener("kim_outbox", self._notified)
                self.listening, backoff = True, 0.2
                self.listens += 1
                self._listen_log.recovered()
                self._wake.set()  # a notification may have been missed while it was away
                while not closed.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), timeout=5)
                    if not closed.is_set():
                        await conn.fetchval("SELECT 1", timeout=5)  # a dead peer that sent no FIN shows here
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever broke it, the relay polls meanwhile and the connection is reopened
                self._listen_log.failed(repr(exc))
            else:
                self._listen_log.failed("the server closed it")
            finally:
                self.listening = False
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
