"""The topics of the local stack: every topic of deploy/kafka-init/topics.txt with the partitions compose gives it.

The broker never auto-creates a topic (deploy/kafka/server.properties), so `kim stack up` creates them here, as the
compose job kafka-init does. Partner topics (kind `partner`) are per organisation: the referrals service creates
each when the partner is registered.
"""

from __future__ import annotations

from pathlib import Path

from kim_runtime.topics import PARTITIONS

from kim_cli.stack_config import StackConfig, StackError

TOPICS_FILE = Path("deploy") / "kafka-init" / "topics.txt"


def planned_topics(repo_root: Path) -> dict[str, int]:
    """{topic: partitions} of every topic in topics.txt that is not per partner."""
    topics = {}
    for line in (repo_root / TOPICS_FILE).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind = line.split()[:2]
        if kind not in PARTITIONS:
            raise StackError(f"{TOPICS_FILE}: unknown topic kind {kind!r} of {name} ({', '.join(PARTITIONS)})")
        if kind != "partner":
            topics[name] = PARTITIONS[kind]
    return topics


async def ensure(cfg: StackConfig) -> list[str]:
    """Create the planned topics that are missing on the stack's broker; returns the names created."""
    from kim_runtime.kafka import ensure_topics  # noqa: PLC0415 - keep `kim --help` fast

    # on three nodes each topic has 3 replicas; the brokers' min.insync.replicas=2 then applies to it
    return await ensure_topics(cfg.bootstrap(), planned_topics(cfg.repo_root), replication_factor=cfg.replication_factor)
