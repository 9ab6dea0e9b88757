"""Bootstrap of one service process: pool + migrations, event store, outbox relay, consumers, HTTP app.

Every service's composition root (`kim_<service>/bootstrap.py`) has the same shape: `build_app(settings)` makes a
`ServiceRuntime` with what exists before any I/O (settings, migrations package, projections, schedule) and a
`compose` coroutine, and returns `service_app(runtime, title, routers=..., install=...)`. At start the runtime opens
the pool and the store, then awaits `compose(runtime)`, which builds the service's objects on them and returns a
`Wiring`: what the routes find on `app.state`, the consumers' handlers, the deadline handlers, what to close at
stop. Only then are the consumers subscribed and the relay, scheduler and broker started, so nothing runs
half-built. `run(app, settings)` serves the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from . import db, logs, telemetry
from .anchor import AnchorKeyError, Anchorer, Receipts, Signer, load_signer
from .consumer import ConsumerRunner, Handler
from .http import create_app
from .idempotency import IdempotencyStore, fingerprint_key
from .kafka import ensure_topics, make_broker
from .outbox import OutboxRelay, RelayState
from .projection import Projection, ProjectionHandler
from .resilience import RateLimitedLog, supervise
from .scheduler import Clock, FireHandler, Schedule, Scheduler, SystemClock, derive_once
from .settings import InsecureSettings, RuntimeSettings
from .store import EventStore
from .topics import dead_letter_topic, service_topic

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0  # per shutdown step (broker, database pool)

PUBLISHED = Counter("kim_events_published_total", "Events the outbox relay published", ["service"])
ANCHORS = Counter("kim_audit_anchors_total", "Signed anchors this process wrote", ["service"])
OUTBOX_BACKLOG = Gauge("kim_outbox_backlog", "Outbox rows not yet published, as the relay leader last saw them "
                       "(0 while not the leader)", ["service"])
RELAY_STATE = Gauge("kim_relay_state", "1 for the outbox relay's current state in this process", ["service", "state"])
RELAY_LEADER = Gauge("kim_relay_leader", "1 while this process's outbox relay holds the lease", ["service"])
RELAY_LISTENING = Gauge("kim_relay_listening", "1 while the relay's LISTEN connection is open", ["service"])
RELAY_RESTARTS = Counter("kim_relay_restarts_total", "Times the outbox relay task crashed and was restarted",
                         ["service"])
RELAY_LEADERSHIPS = Counter("kim_relay_leaderships_total", "Times this process's relay took the lease", ["service"])
DEADLINES_FIRED = Counter("kim_deadlines_fired_total", "Deadlines this process's scheduler fired", ["service"])
DEADLINES_FAILED = Counter("kim_deadlines_failed_total", "Deadline firings that failed here (each postponed)",
                           ["service"])
RELAY_LEASE_LEFT = Gauge("kim_relay_lease_seconds_left", "Seconds the leader's lease is surely valid (0 unless "
                         "leader)", ["service"])


@dataclass
class Wiring:
    """What a service's `compose` builds once the pool and the store exist, handed to the app and the runtime.

    `state`: set on `app.state` for the routes (e.g. the command handlers); `handlers`: consumers of Kafka topics
    (kim_runtime.consumer.Handler); `projections`: projections and process managers that need what compose built
    (a process manager appends to the store), consumed like the runtime's own and rebuilt by `kim replay`;
    `deadline_handlers`: deadline kind -> what fires (kim_runtime.scheduler); `closers`: awaited first at stop, for
    what the service started itself."""

    state: Mapping[str, Any] = field(default_factory=dict)
    handlers: Sequence[Handler] = ()
    projections: Sequence[Projection] = ()
    deadline_handlers: Mapping[str, FireHandler] = field(default_factory=dict)
    closers: Sequence[Callable[[], Awaitable[None]]] = ()


Compose = Callable[["ServiceRuntime"], Awaitable[Wiring]]


class ServiceRuntime:
    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        migrations_package: str | None,
        compose: Compose | None = None,
        handlers: Sequence[Handler] = (),
        projections: Sequence[Projection] = (),
        publishes: bool = True,
        topic: str | None = None,
        schedule: Schedule | None = None,
        deadline_handlers: dict[str, FireHandler] | None = None,
        clock: Clock | None = None,
    ):
        self.settings = settings
        self.schedule = schedule
        self.compose = compose
        self.wiring = Wiring()  # compose's, once started
        self.deadline_handlers = dict(deadline_handlers or {})
        self.clock: Clock = clock or SystemClock()  # tests put a ManualClock here before the start
        self.scheduler: Scheduler | None = None
        self.migrations_package = migrations_package
        self.handlers = list(handlers) + [ProjectionHandler(p) for p in projections]
        self.projections = list(projections)
        # where the relay publishes this service's events (`topic`: another name, e.g. with a test's suffix)
        self.topic = (topic or service_topic(settings.service)) if publishes else None
        self.pool: asyncpg.Pool | None = None
        self.store: EventStore | None = None
        self.broker = make_broker(settings)
        self.consumers = ConsumerRunner(
            settings.service,
            pool=None,  # set at start
            broker=self.broker,
            dead_letter_topic=dead_letter_topic(settings.service),
            max_attempts=settings.consumer_max_attempts,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
            group_prefix=settings.consumer_group_prefix,
        )
        for handler in self.handlers:
            self.consumers.add(handler)
        self.relay: OutboxRelay | None = None
        self.anchorer: Anchorer | None = None
        self.idempotency: IdempotencyStore | None = None
        self._tasks: list[asyncio.Task] = []
        self.kafka_ready = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        s.refuse_public_defaults()  # a public secret or a missing key fails here, before anything runs
        signer = signer_of(s)
        telemetry.setup_tracing(s.service)
        await self._migrate()
        self.pool = await db.create_pool(s.database_url, max_size=s.db_pool_size)
        async with self.pool.acquire() as conn:
            async with db.migration_lock(conn):  # CREATE ... IF NOT EXISTS races between replicas starting together
                for projection in self.projections:
                    await projection.create_schema(conn)
        # every event this service appends (through this store or one routed from it) carries its writer seal
        self.store = EventStore(self.pool, self.topic, schedule=self.schedule, writer=signer)
        if self.schedule is not None:
            async with self.pool.acquire() as conn, db.migration_lock(conn):  # one replica derives
                await derive_once(self.store, self.schedule)
        if self.compose is not None:
            self.wiring = await self.compose(self)
            if self.wiring.projections:
                async with self.pool.acquire() as conn, db.migration_lock(conn):
                    for projection in self.wiring.projections:
                        await projection.create_schema(conn)
                self.projections += self.wiring.projections
            for handler in [*self.wiring.handlers, *map(ProjectionHandler, self.wiring.projections)]:
                self.handlers.append(handler)
                self.consumers.add(handler)
            self.deadline_handlers |= self.wiring.deadline_handlers
        self.consumers.pool = self.pool
        self._tasks.append(asyncio.create_task(self._start_broker(), name="broker"))
        if self.topic:
            self.relay = OutboxRelay(
                self.pool, self.broker, dsn=s.database_url, batch_size=s.relay_batch_size, lease_s=s.relay_lease_s,
                on_published=lambda n: PUBLISHED.labels(s.service).inc(n),
                on_lead=lambda: RELAY_LEADERSHIPS.labels(s.service).inc(),
            )
            self._relay_metrics(self.relay)
            self._tasks.append(asyncio.create_task(self._run_relay(), name="outbox-relay"))
        if self.deadline_handlers:
            self.scheduler = Scheduler(self.pool, self.deadline_handlers, clock=self.clock, dsn=s.database_url,
                                       max_sleep_s=s.scheduler_max_sleep_s, retry_s=s.scheduler_retry_s,
                                       on_fired=DEADLINES_FIRED.labels(s.service).inc,
                                       on_failed=DEADLINES_FAILED.labels(s.service).inc)
            self._tasks.append(asyncio.create_task(self._run_scheduler(), name="deadline-scheduler"))
        self.idempotency = IdempotencyStore(self.pool, ttl_s=s.idempotency_ttl_s, lease_s=s.idempotency_lease_s,
                                            key=fingerprint_key(s.auth_secret, s.service))
        self._tasks.append(asyncio.create_task(self._prune_idempotency_keys(), name="idempotency-prune"))
        self.anchorer = Anchorer(self.pool, s.service, signer, self._publish_anchor,
                                s.audit_anchor_file())
        self._tasks.append(asyncio.create_task(self._anchor_every_interval(), name="audit-anchors"))
        # the streams that never leave the store (access log, kim audit's records) are sealed on every append
        self.store.receipts = Receipts(self.pool, s.service, signer, self._publish_receipt, s.audit_anchor_file())

    async def _prune_idempotency_keys(self) -> None:
        """Delete the Idempotency-Keys older than KIM_IDEMPOTENCY_TTL_S, at start and then every tenth of it."""
        every = max(60.0, min(self.settings.idempotency_ttl_s / 10, 3600.0))
        while True:
            try:
                pruned = await self.idempotency.prune()
                if pruned:
                    log.info("%s: pruned %d expired Idempotency-Keys", self.settings.service, pruned)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("%s: could not prune Idempotency-Keys (%s)", self.settings.service, exc)
            await asyncio.sleep(every)

    async def _run_scheduler(self) -> None:
        await supervise("deadline scheduler", self.scheduler.run, on_crash=lambda _exc: None, logger=log)

    async def _publish_anchor(self, values) -> None:
        await self.kafka_ready.wait()
        key = self.settings.service.encode()
        for value in values:
            await self.broker.publish(value, self.settings.audit_anchor_topic, key=key,
                                      headers={"content-type": "application/json"})

    async def _publish_receipt(self, values) -> bool:
        """A receipt goes to the anchor topic. Before Kafka is there (at start) it is in the anchor file only (False:
        not published; the first anchor seals the stream on the topic); without a file it waits for Kafka, as long
        as kim_runtime.anchor.Receipts allows, and the read is refused (503) if Kafka does not come."""
        if not self.kafka_ready.is_set() and self.settings.audit_anchor_file() is not None:
            log.warning("%s: Kafka not ready: a receipt went to the anchor file only", self.settings.service)
            return False
        await self._publish_anchor(values)  # waits for kafka_ready
        return True

    async def _anchor_every_interval(self) -> None:
        """Seal the store once Kafka is there, then every KIM_AUDIT_ANCHOR_INTERVAL_S (a no-op when nothing
        changed); a failed anchor is retried at the next tick."""
        await self.kafka_ready.wait()
        while True:
            try:
                if await self.anchorer.anchor():
                    ANCHORS.labels(self.settings.service).inc()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as exc:
                log.warning("%s: could not write an anchor (%s); next try in %.0fs", self.settings.service, exc,
                            self.settings.audit_anchor_interval_s)
            await asyncio.sleep(self.settings.audit_anchor_interval_s)

    async def _migrate(self) -> None:
        """Migrations run as the store's owner (KIM_MIGRATION_DATABASE_URL, else the service's own URL); with a
        separate owner, the service's role then gets what it needs and nothing that rewrites history."""
        s = self.settings
        packages = [self.migrations_package] if self.migrations_package else []
        conn = await db.connect(s.migration_database_url or s.database_url)
        try:
            await db.migrate(conn, packages)
            if s.migration_database_url:
                await db.grant_service_role(conn, db.role_of(s.database_url))
        finally:
            await conn.close()

    async def _start_broker(self) -> None:
        delay = 0.5
        unreachable = RateLimitedLog(log, f"{self.settings.service}: Kafka not reachable")
        while True:
            try:
                await self.broker.start()
                self.kafka_ready.set()
                log.info("%s: connected to Kafka at %s", self.settings.service, self.settings.kafka_bootstrap)
                return
            except Exception as exc:  # Kafka not up yet: keep serving HTTP, retry
                unreachable.failed(repr(exc), f"; retrying in {delay:.1f} s")
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _run_relay(self) -> None:
        """The relay, restarted with backoff whenever it crashes (its state shows on /readyz and /metrics)."""
        await self.kafka_ready.wait()

        def crashed(exc: BaseException) -> None:
            RELAY_RESTARTS.labels(self.settings.service).inc()
            self.relay.state, self.relay.last_error = RelayState.STARTING, f"crashed, restarting: {exc!r}"

        await supervise("outbox relay", self.relay.run, on_crash=crashed, logger=log)

    def _relay_metrics(self, relay: OutboxRelay) -> None:
        service = self.settings.service
        for state in RelayState:
            RELAY_STATE.labels(service, state.value).set_function(lambda st=state: float(relay.state is st))
        RELAY_LEADER.labels(service).set_function(lambda: float(relay.state is RelayState.LEADER))
        RELAY_LISTENING.labels(service).set_function(lambda: float(relay.listening))
        OUTBOX_BACKLOG.labels(service).set_function(
            lambda: float(relay.backlog) if relay.state is RelayState.LEADER else 0.0)
        RELAY_LEASE_LEFT.labels(service).set_function(
            lambda: max(relay.lease_left(), 0.0) if relay.state is RelayState.LEADER else 0.0)

    async def ensure_topics(self, topics: dict[str, int], *, retry: bool = True) -> None:
        """Create the missing topics of ``{name: partitions}`` (brokers never auto-create them).

        When Kafka cannot be reached now, a background task keeps trying (``retry``), so the caller never fails on it.
        """
        s = self.settings
        try:
            await ensure_topics(s.kafka_bootstrap, topics, options=s.kafka_options(),
                                replication_factor=s.kafka_replication_factor,
                                partner_retention_ms=s.partner_topic_retention_ms)
        except Exception as exc:
            if not retry:
                raise
            log.warning("%s: cannot create topics %s yet (%s); retrying in the background", s.service,
                        ", ".join(topics), exc)
            self._tasks.append(asyncio.create_task(self._ensure_topics_later(topics), name="ensure-topics"))

    async def _ensure_topics_later(self, topics: dict[str, int]) -> None:
        delay = 1.0
        while True:
            await asyncio.sleep(delay)
            try:
                return await self.ensure_topics(topics, retry=False)
            except Exception as exc:
                log.warning("%s: still cannot create topics (%s)", self.settings.service, exc)
                delay = min(delay * 2, 30)

    async def stop(self) -> None:
        """Stop what start() started, each step bounded (STOP_TIMEOUT_S), so a stuck broker or connection never
        keeps the process from exiting."""
        for close in self.wiring.closers:
            try:
                await asyncio.wait_for(close(), STOP_TIMEOUT_S)
            except Exception as exc:  # one stuck closer must not keep the rest from stopping
                log.warning("%s: %s did not close cleanly (%r)", self.settings.service, close, exc)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            for task in pending:
                log.warning("%s: task %s did not stop within %s s of its cancellation", self.settings.service,
                            task.get_name(), STOP_TIMEOUT_S)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.broker.stop(), STOP_TIMEOUT_S)
        if self.pool:
            if self.store is not None:
                self.store.receipts = None  # the writer seal stays: an append still in flight is sealed
            try:  # close waits for every borrowed connection to come back; a stuck one must not hold the exit
                await asyncio.wait_for(self.pool.close(), STOP_TIMEOUT_S)
            except (TimeoutError, asyncio.TimeoutError):
                log.warning("%s: database connections still busy after %s s at shutdown: closed hard",
                            self.settings.service, STOP_TIMEOUT_S)
                self.pool.terminate()
        telemetry.shutdown_tracing()

    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        app.state.municipalities = self.settings.municipalities  # kim_runtime.clean_input validates against them
        try:
            await self.start()
        except BaseException:
            await self.stop()  # what did start (broker, relay, consumers) must not outlive a failed start
            raise
        app.state.idempotency = self.idempotency
        for name, value in self.wiring.state.items():
            setattr(app.state, name, value)
        try:
            yield
        finally:
            await self.stop()

    # -- readiness checks --------------------------------------------------------------------------
    async def check_database(self) -> None:
        async with self.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")

    async def check_kafka(self) -> None:
        if not self.kafka_ready.is_set():
            raise RuntimeError("not connected yet")

    async def check_relay(self) -> None:
        relay = self.relay
        if not relay.healthy:
            raise RuntimeError(f"{relay.state.value}" + (f", {relay.last_error}" if relay.last_error else ""))

    def readiness(self) -> dict:
        checks = {"database": self.check_database, "kafka": self.check_kafka}
        if self.topic:
            checks["relay"] = self.check_relay
        return checks

    async def outbox_pending(self) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")


def service_app(runtime: ServiceRuntime, title: str, *, routers: Sequence, install: Callable | None = None,
                state: Mapping[str, Any] | None = None) -> FastAPI:
    """The one way a service's HTTP app is made: the runtime's shared app (health, readiness, metrics, error
    mapping) with `runtime.lifespan`; `install(app)` adds the service's exception handlers, middleware and owner
    resolvers, then every router of `routers` is included. `state`: objects that need no pool (set at once)."""
    app = create_app(title, auth_secret=runtime.settings.auth_secret, lifespan=runtime.lifespan,
                     readiness=runtime.readiness(), service_token_secret=runtime.settings.service_token_secret)
    app.state.runtime = runtime
    app.state.settings = runtime.settings
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    if install is not None:
        install(app)
    for router in routers:
        app.include_router(router)
    return app


def signer_of(settings: RuntimeSettings) -> Signer:
    secret = settings.audit_signing_key.get_secret_value() if settings.audit_signing_key is not None else None
    return load_signer(env=settings.env, key=secret, key_file=settings.audit_signing_key_file)


def run(app, settings: RuntimeSettings) -> None:
    logs.configure(settings.service, level=settings.log_level, fmt=settings.log_format,
                   repeat_interval_s=settings.log_repeat_interval_s)
    try:  # the lifespan checks again; this only turns a missing or public secret into one clear line
        settings.refuse_public_defaults()
        signer_of(settings)
    except (AnchorKeyError, InsecureSettings) as exc:
        sys.exit(f"kim_{settings.service} cannot start: {exc}")
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_level=settings.log_level.lower(),
                log_config=None,  # uvicorn's loggers go through ours (JSON lines)
                access_log=False)  # its lines name the path (client ids); kim_runtime.observe logs the route
