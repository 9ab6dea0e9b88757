"""The rehearsal tier's topology (tests/rehearsal/topology.py): started once for the package, stopped by pid.

It has its own Kafka and PostgreSQL (never the session's stack: SASL, ACLs and password logins are the point) on a
fixed block of 9 ports from KIM_REHEARSAL_BASE_PORT (default 28192: 28192-28200, all on 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rehearsal.topology import Rehearsal


@pytest.fixture(scope="package")
def rehearsal(pytestconfig) -> Iterator[Rehearsal]:
    r = Rehearsal()
    try:
        r.up()
        with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
            print("\nREHEARSAL timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items()), flush=True)
        yield r
    finally:
        r.down()
