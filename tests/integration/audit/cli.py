"""Run the real `kim` command in a child process, with the test's databases and broker in its environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
KIM = str(Path(sys.executable).parent / "kim")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)  # so --module tests.integration.audit.projections imports
    return env | extra


async def start(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(KIM, *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def run(*args: str, env: dict[str, str], timeout: float = 120) -> tuple[int, str, str]:
    proc = await start(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def listening(app) -> AsyncIterator[str]:
    """An already-started service app behind a real HTTP server on a free port of 127.0.0.1, for a `kim` child
    process to reach (kim audit records its reads through the cases service: KIM_CASES_URL)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
