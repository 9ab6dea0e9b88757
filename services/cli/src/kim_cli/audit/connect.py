"""Where each service's database and the Kafka broker are: environment first, else the local stack's defaults.

KIM_<SERVICE>_DATABASE_URL (e.g. KIM_CASES_DATABASE_URL) names a service's database; without it the local stack's
database kim_<service> is used (KIM_POSTGRES_PORT / KIM_POSTGRES_URL). Kafka: KIM_KAFKA_BOOTSTRAP or the local
stack's broker (KIM_KAFKA_PORT).
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack

import asyncpg

from kim_cli.stack_config import StackConfig
from kim_cli.stack_postgres import database_url as _with_database
from kim_cli.stack_postgres import redact
from kim_runtime import db
from kim_runtime.topics import SERVICES


def database_url(service: str) -> str:
    env = f"KIM_{service.upper()}_DATABASE_URL"
    return os.environ.get(env) or _with_database(StackConfig.from_env().admin_url(), f"kim_{service}")


def kafka_bootstrap() -> str:
    return StackConfig.from_env().bootstrap()


def kafka_options() -> dict:
    """SASL settings for the broker: the admin user of the secure local broker (`kim run`), else none."""
    return StackConfig.from_env().kafka_client_options()


def service_of_topic(topic: str) -> str | None:
    """The service whose store publishes a topic: kim.<service>, and the partner topics from referrals."""
    parts = topic.split(".")
    if len(parts) == 2 and parts[0] == "kim" and parts[1] in SERVICES:
        return parts[1]
    if topic.startswith("kim.partner."):
        return "referrals"
    return None


class UserError(RuntimeError):
    """Something the user has to fix; the message says what was wrong and what to do."""


class Databases:
    """One pool per database URL for the length of a command; errors say which database and what to do."""

    def __init__(self, stack: AsyncExitStack):
        self._stack = stack
        self._pools: dict[str, asyncpg.Pool] = {}

    async def pool(self, url: str, *, what: str) -> asyncpg.Pool:
        if url not in self._pools:
            try:
                pool = await db.create_pool(url, min_size=1, max_size=4)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise UserError(
                    f"cannot connect to the {what} database at {redact(url)} ({exc}); start the stack with "
                    f"`kim stack up`, or point KIM_<SERVICE>_DATABASE_URL at the right server") from None
            self._pools[url] = pool
            self._stack.push_async_callback(pool.close)
        return self._pools[url]

    async def service(self, service: str) -> asyncpg.Pool:
        return await self.pool(database_url(service), what=service)


async def open_store(service: str, say) -> asyncpg.Pool | None:
    """A pool on the service's event store; None (after saying why) when its database or store does not exist."""
    url = database_url(service)
    try:
        pool = await db.create_pool(url, min_size=1, max_size=2)
    except asyncpg.InvalidCatalogNameError:
        say(f"{service}: no database at {redact(url)}; skipped")
        return None
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise UserError(f"cannot connect to the {service} database at {redact(url)} ({exc}); start the stack "
                        f"(`kim stack up`) or set KIM_{service.upper()}_DATABASE_URL") from None
    if not await has_event_store(pool):
        say(f"{service}: no event store yet (the service has not run); skipped")
        await pool.close()
        return None
    return pool


async def has_event_store(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        return bool(await conn.fetchval("SELECT to_regclass('events') IS NOT NULL"))
