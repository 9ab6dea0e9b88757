"""Running and printing `kim audit verify` for every service store.

Every finding is one `Finding`: a class an auditor can sort by (edited, missing, truncated, added, anchor, broken
chain, misdated, unpublished, unsealed, missing from Kafka, extra, foreign data, differs, duplicated, reordered), where it is (stream and version, or topic,
partition and offset), when and by whom where the record says so. Text lists SHOWN per class unless --all; JSON
lists all of them. Records on a topic that no store has are also summed up per producer with their time range.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from kim_runtime.topics import service_topic

from kim_cli.audit.anchors import check_service, read_anchors, trusted_keys
from kim_cli.audit.connect import open_store
from kim_cli.audit.store_checks import check_seals, check_store
from kim_cli.audit.verify import Sighting, TopicReport, chains, compare_topic, store_topics

SHOWN = 10  # findings listed per class in text unless --all; the count says how many there are


@dataclass(frozen=True)
class Finding:
    kind: str
    service: str
    detail: str
    stream: str | None = None
    version: int | None = None
    event_id: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    time: str | None = None
    actor: str | None = None
    producer: str | None = None

    def line(self) -> str:
        where = [f"stream {self.stream} version {self.version}" if self.stream is not None else None,
                 f"event {self.event_id}" if self.event_id else None,
                 f"{self.topic}[{self.partition}]@{self.offset}" if self.topic and self.offset is not None else None,
                 f"at {self.time}" if self.time else None, f"by {self.actor}" if self.actor else None,
                 f"from {self.producer}" if self.producer else None]
        return f"[{self.kind}] {self.service}: {', '.join(w for w in where if w)}: {self.detail}"


def _at(s: Sighting) -> dict:
    return {"partition": s.partition, "offset": s.offset, "time": s.time}


def topic_findings(service: str, r: TopicReport) -> list[Finding]:
    out = [Finding("missing from Kafka", service, f"marked sent, but not on {r.topic}", fp.stream_id, fp.version,
                   event_id, r.topic) for event_id, fp in r.missing]
    own = f"/kim/{service}"  # an extra record that claims this store's producer: the store lost it, or it is forged
    out += [Finding("extra", service, f"on {r.topic} from {own} but in no store ({fp.type or 'no type'})",
                    fp.stream_id or None, fp.version, event_id, r.topic, actor=fp.actor or None,
                    producer=fp.source or None, **_at(here))
            for event_id, fp, here in r.extra if fp.source == own]
    out += [Finding("foreign data", service, f"on {r.topic} but produced by {fp.source or 'no ce_source'}, not by "
                    f"this deployment's {service} service, and in no store ({fp.type or 'no type'})",
                    fp.stream_id or None, fp.version, event_id, r.topic, actor=fp.actor or None,
                    producer=fp.source or None, **_at(here))
            for event_id, fp, here in r.extra if fp.source != own]
    for event_id, mine, theirs in r.differing:
        what = [n for n, a, b in (("stream", mine.stream_id, theirs.stream_id), ("type", mine.type, theirs.type),
                                  ("value", mine.value, theirs.value)) if a != b]
        out.append(Finding("differs", service, f"Kafka and the store differ in {', '.join(what)}", mine.stream_id,
                           mine.version, event_id, r.topic))
    out += [Finding("duplicated", service, f"the event id again; first at {first}", event_id=event_id,
                    topic=r.topic, **_at(again)) for event_id, first, again in r.repeated]
    out += [Finding("reordered", service, f"after version {earlier.version} at {earlier}", key, later.version,
                    topic=r.topic, **_at(later)) for key, earlier, later in r.backwards]
    return out


def _say_topic(service: str, r: TopicReport, findings: list[Finding], shown: int | None, say) -> None:
    note = f"; {r.unpublished:,} not published yet" if r.unpublished else ""
    say(f"{service}: topic {r.topic}: {r.matched:,} events match the store{note}")
    producers: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.kind in ("extra", "foreign data"):
            producers[f.producer or "no ce_source"].append(f)
    for producer, items in sorted(producers.items()):
        times = sorted(f.time for f in items if f.time)
        span = f" from {times[0]} to {times[-1]}" if times else ""
        say(f"{service}: topic {r.topic}: {len(items):,} record(s) from {producer} in no store{span}")
    _say_findings(findings, shown, say)


def _say_findings(findings: list[Finding], shown: int | None, say) -> None:
    by_kind: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_kind[f.kind].append(f)
    for kind, items in by_kind.items():
        for f in items[:shown]:
            say(f"  {f.line()}")
        if shown is not None and len(items) > shown:
            say(f"  ... and {len(items) - shown:,} more [{kind}] (all of them: --all or --format json)")


@dataclass(frozen=True)
class AnchorSource:
    topic: str
    file: Path | None = None
    public_keys: tuple[str, ...] = ()


async def verify_all(services: list[str], topic_of: dict[str, str], bootstrap: str | None,
                     say: Callable[[str], None], anchors: AnchorSource | None = None, *,
                     shown: int | None = SHOWN) -> list[Finding]:
    """Every finding of every service store; `say` gets the text report (nothing in it is left out of the list)."""
    found: list[Finding] = []
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
                found.append(Finding("broken chain", service, b.problem, b.stream_id, b.version))
                say(f"  {found[-1].line()}")
            checked = await check_store(pool, service, lambda kind, detail, **where: Finding(kind, service, detail,
                                                                                              **where), topic_of)
            found += checked
            say(f"{service}: times and publication of every event checked: "
                f"{sum(f.kind == 'misdated' for f in checked)} misdated, "
                f"{sum(f.kind == 'unpublished' for f in checked)} unpublished")
            _say_findings(checked, shown, say)
            if trusted:
                unsealed, sealed = await check_seals(pool, trusted, lambda kind, detail, **where: Finding(
                    kind, service, detail, **where))
                found += unsealed
                say(f"{service}: writer seals of {sealed:,} events checked: {len(unsealed)} unsealed"
                    if sealed else f"{service}: no sealed events yet (writer seals start with the first one)")
                _say_findings(unsealed, shown, say)
            if anchors is not None:
                found += [Finding(a.kind, service, a.detail, a.stream_id, a.version)
                          for a in await check_service(pool, service, records, trusted, say)]
            if bootstrap:
                main = topic_of.get(service) or service_topic(service)
                topics = [main] + [t for t in await store_topics(pool) if t != main and service not in topic_of]
                for topic in topics:
                    r = await compare_topic(pool, bootstrap, topic)
                    findings = topic_findings(service, r)
                    _say_topic(service, r, findings, shown, say)
                    found += findings
        finally:
            await pool.close()
    return found


def as_json(findings: list[Finding]) -> str:
    return json.dumps({"findings": [{k: v for k, v in asdict(f).items() if v is not None} for f in findings]},
                      ensure_ascii=False, indent=2)
