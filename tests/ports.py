"""Free ports for the servers tests start, chosen outside the kernel's ephemeral range.

A port the kernel handed out for `bind(0)` and that the test closes again stays in the ephemeral range, where the
next outgoing connection (Kafka clients, asyncpg, httpx: hundreds of them in a suite) may take it before the server
the test starts binds it ("address already in use"). Ports below the ephemeral range are never given to outgoing
connections, so a port that binds now stays free unless a process asks for it by number. Blocks the suite uses by
number are left out: the test stack (29092, 29093, 29432, and +200 for the fault tier's three brokers), the
rehearsal's block (KIM_REHEARSAL_BASE_PORT, default 28192..28199) and `make run`'s ports."""

from __future__ import annotations

import random
import socket
from pathlib import Path

FIRST = 20000
RESERVED = {*range(28192, 28200), *range(29000, 29700)}


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _binds(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(count: int) -> int:
    """The first of `count` consecutive ports on 127.0.0.1 that all bind now, below the ephemeral range."""
    last = _ephemeral_low() - count
    for _ in range(2000):
        base = random.randrange(FIRST, last)
        ports = range(base, base + count)
        if not RESERVED.intersection(ports) and all(_binds(p) for p in ports):
            return base
    raise RuntimeError(f"no {count} free consecutive ports between {FIRST} and {last + count}")


def free_port() -> int:
    return free_block(1)
