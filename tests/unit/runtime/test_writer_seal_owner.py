"""Writer seals belong to an event store, not to the process: a store built with the service's audit key (and every
store routed from it) seals what it appends; any other store in the same process (a test's, the CLI's) seals
nothing, whatever was built before it (the leak that made tests/integration/audit/test_anchors.py fail after an
in-process service test)."""

from __future__ import annotations

from kim_runtime.anchor import SEAL, Signer, event_digest, seal_problem
from kim_runtime.envelope import Envelope
from kim_runtime.store import EventStore, sealed_metadata


def test_only_the_store_built_with_a_key_and_its_routes_seal():
    signer = Signer.generate()[0]
    service = EventStore(None, "kim.cases", writer=signer)
    other = EventStore(None, None)
    assert service.writer is signer and service.routed("kim.partner.jc-1").writer is signer
    assert other.writer is None and other.routed(None).writer is None

    e = Envelope(type="kim.test.Counted", source="/kim/test", stream_id="s-1", actor="staff-1", data={"n": 1})
    meta = {"source": "/kim/test", "actor": "staff-1"}
    assert sealed_metadata(other.writer, "s-1", e, meta) == meta
    sealed = sealed_metadata(service.writer, "s-1", e, meta)
    digest = event_digest(e.id, "s-1", e.type, e.schema_version, e.time, meta, e.data)
    assert seal_problem(sealed[SEAL], digest, {signer.key_id: signer.public}) is None
