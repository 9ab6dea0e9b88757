"""Run the real `kim` command in a child process, with the test's databases and broker in its environment."""

from __future__ import annotations

import asyncio
import os
import sys
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
