"""The raw bytes of a topic's log segments on the test stack's local Kafka (every broker's data folder): what a
probe with access to the broker's disk, or a backup of it, reads. Records are written uncompressed, so text in a
record's value or headers is found as it is (the callers check that with a value that must be there)."""

from __future__ import annotations

from kim_cli.stack_kafka import nodes, paths

from tests.conftest import TEST_STACK


def segment_bytes(topic: str) -> bytes:
    """Every .log segment of every partition of `topic`, concatenated; empty when the stack is not local."""
    chunks = []
    for node in nodes(TEST_STACK):
        data = paths(TEST_STACK, node)["data"]
        for segment in sorted(data.glob(f"{topic}-*/*.log")):
            if segment.parent.name.rsplit("-", 1)[0] == topic:  # kim.cases-0, not kim.cases.x-0
                chunks.append(segment.read_bytes())
    return b"".join(chunks)
