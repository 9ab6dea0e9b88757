"""Running and printing `kim audit verify` for every service store; returns the number of findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kim_runtime.topics import service_topic

from kim_cli.audit.anchors import check_service, read_anchors, trusted_keys
from kim_cli.audit.connect import open_store
from kim_cli.audit.verify import TopicReport, chains, compare_topic, store_topics

SHOWN = 10  # findings listed per kind; the count says how many there are


def _print_topic(service: str, r: TopicReport, say) -> int:
    note = f"; {r.unpublished:,} not published yet" if r.unpublished else ""
    say(f"{service}: topic {r.topic}: {r.matched:,} events match the store{note}")
    for label, items in (("missing from Kafka", r.missing), ("in Kafka but in no store", r.extra)):
        if items:
            say(f"{service}: topic {r.topic}: {len(items):,} event(s) {label}")
        for event_id, fp in items[:SHOWN]:
            where = f" (stream {fp.stream_id} version {fp.version}, {fp.type})" if fp else ""
            say(f"  {label}: event {event_id}{where}")
    if r.differing:
        say(f"{service}: topic {r.topic}: {len(r.differing):,} event(s) differ between Kafka and the store")
    for event_id, mine, theirs in r.differing[:SHOWN]:
        what = [n for n, a, b in (("stream", mine.stream_id, theirs.stream_id), ("type", mine.type, theirs.type),
                                  ("value", mine.value, theirs.value)) if a != b]
        say(f"  differs: event {event_id} (stream {mine.stream_id} version {mine.version}): {', '.join(what)}")
    if r.repeated:
        say(f"{service}: topic {r.topic}: {len(r.repeated):,} record(s) repeat an event id")
    for event_id, first, again in r.repeated[:SHOWN]:
        say(f"  repeated: event {event_id} at {again}, first at {first}")
    if r.backwards:
        say(f"{service}: topic {r.topic}: {len(r.backwards):,} record(s) go back in their stream's version")
    for key, earlier, later in r.backwards[:SHOWN]:
        say(f"  out of order: stream {key} version {later.version} at {later}, after version {earlier.version} at "
            f"{earlier}")
    return r.findings


@dataclass(frozen=True)
class AnchorSource:
    topic: str
    file: Path | None = None
    public_keys: tuple[str, ...] = ()


async def verify_all(services: list[str], topic_of: dict[str, str], bootstrap: str | None,
                     say: Callable[[str], None], anchors: AnchorSource | None = None) -> int:
    findings = 0
    records, trusted = [], {}
    if anchors is not None:
        trusted = trusted_keys(list(anchors.public_keys))
        records = await read_anchors(bootstrap, anchors.topic, anchors.file)
    for service in services:
        pool = await open_store(service, say)
        if pool is None:
            continue
        try:
            report = await chains(pool)
            if report.ok:
                say(f"{service}: {report.events:,} events in {report.streams:,} streams: every hash chain holds")
            else:
                b = report.first_break
                say(f"{service}: BROKEN hash chain: stream {b.stream_id} version {b.version}: {b.problem}")
                findings += 1
            if anchors is not None:
                findings += len(await check_service(pool, service, records, trusted, say))
            if bootstrap:
                main = topic_of.get(service) or service_topic(service)
                topics = [main] + [t for t in await store_topics(pool) if t != main and service not in topic_of]
                for topic in topics:
                    findings += _print_topic(service, await compare_topic(pool, bootstrap, topic), say)
        finally:
            await pool.close()
    return findings
