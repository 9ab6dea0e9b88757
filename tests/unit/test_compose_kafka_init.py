"""The compose Kafka set-up: topic list vs the AsyncAPI document, what kafka-init.sh does (dry run), broker config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kim_runtime.topics import ANCHOR_TOPIC, PARTITIONS, SERVICE_TOPICS, dead_letter_topic, partner_topic
from tests.unit.test_compose_file import ROOT, SERVICES, compose, environment

KAFKA_DIR = ROOT / "deploy" / "kafka-init"
ASYNCAPI = ROOT / "schemas" / "asyncapi.yaml"
PASSWORD = "0123456789abcdef"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def topic_templates() -> dict[str, str]:
    out = {}
    for line in (KAFKA_DIR / "topics.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind = line.split()[:2]
            out[name] = kind
    return out


def asyncapi_addresses(document: dict) -> set[str]:
    """AsyncAPI 3 names a channel's topic in `address`; AsyncAPI 2 uses the channel key itself."""
    channels = document.get("channels") or {}
    return {(c or {}).get("address") or key for key, c in channels.items()}


def test_topics_are_the_channels_of_the_asyncapi_document():
    if not ASYNCAPI.exists():
        pytest.skip("schemas/asyncapi.yaml is not written yet")
    assert set(topic_templates()) == asyncapi_addresses(yaml.safe_load(ASYNCAPI.read_text()))


def test_topics_use_the_runtime_topic_names():
    topics = topic_templates()
    expected = set(SERVICE_TOPICS.values()) | {dead_letter_topic(s) for s in SERVICE_TOPICS} | {ANCHOR_TOPIC}
    assert {t for t, kind in topics.items() if kind != "partner"} == expected
    [partner] = [t for t, kind in topics.items() if kind == "partner"]
    assert partner.replace("{organisationId}", "jobcenter-unna") == partner_topic("jobcenter-unna")


def init_env(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "KIM_KAFKA_INIT_DRY_RUN": "1",
        "KIM_KAFKA_BOOTSTRAP": "kafka:9092",
        "KIM_KAFKA_ADMIN_USER": "kim-admin",
        "KIM_KAFKA_ADMIN_PASSWORD": PASSWORD,
        "KIM_PARTNERS": f"caritas-unna:{PASSWORD}1, abh-kreis-unna:{PASSWORD}2",
    } | {f"KIM_{s.upper()}_KAFKA_PASSWORD": f"{PASSWORD}{s}" for s in SERVICES}
    return env | overrides


def dry_run(**overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(KAFKA_DIR / "kafka-init.sh")], env=init_env(**overrides), capture_output=True, text=True
    )


def commands(**overrides: str) -> list[list[str]]:
    result = dry_run(**overrides)
    assert result.returncode == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()]


def option_values(cmd: list[str], option: str) -> list[str]:
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == option]


def acls(cmds: list[list[str]], user: str) -> set[tuple[str, str, str, str]]:
    """(operation, resource type, pattern type, name) granted to a user."""
    out = set()
    for cmd in cmds:
        if cmd[0] != "kafka-acls.sh" or option_values(cmd, "--allow-principal") != [f"User:{user}"]:
            continue
        pattern = (option_values(cmd, "--resource-pattern-type") or ["literal"])[0]
        for op in option_values(cmd, "--operation"):
            out |= {(op, "topic", pattern, t) for t in option_values(cmd, "--topic")}
            out |= {(op, "group", pattern, g) for g in option_values(cmd, "--group")}
    return out


def test_init_creates_every_topic_with_its_partitions_and_retention():
    created = {}
    for cmd in commands():
        if cmd[0] == "kafka-topics.sh" and "--create" in cmd:
            [topic] = option_values(cmd, "--topic")
            created[topic] = (option_values(cmd, "--partitions")[0], option_values(cmd, "--config"))
    expected = {t for t, kind in topic_templates().items() if kind != "partner"}
    expected |= {"kim.partner.caritas-unna", "kim.partner.abh-kreis-unna"}
    assert set(created) == expected
    for s in SERVICES:
        assert created[f"kim.{s}"] == ("6", ["retention.ms=-1", "min.insync.replicas=1"])  # kept forever
    assert created["kim.partner.caritas-unna"] == (  # the current state, compacted; deleted after 30 days besides
        "3", ["cleanup.policy=compact,delete", "retention.ms=2592000000", "segment.ms=86400000",
              # compacted within a day whatever the dirty ratio; a tombstone kept as long as a partner may not read
              "max.compaction.lag.ms=86400000", "delete.retention.ms=2592000000", "min.insync.replicas=1"])
    assert created[ANCHOR_TOPIC] == ("1", ["retention.ms=-1", "min.insync.replicas=1"])  # in order, forever


def test_with_three_brokers_every_topic_has_three_replicas_and_needs_two_in_sync():
    creates = [cmd for cmd in commands(KIM_KAFKA_REPLICATION_FACTOR="3", KIM_KAFKA_MIN_INSYNC_REPLICAS="2")
               if cmd[0] == "kafka-topics.sh" and "--create" in cmd]
    assert len(creates) >= 10
    for cmd in creates:
        assert option_values(cmd, "--replication-factor") == ["3"]
        assert "min.insync.replicas=2" in option_values(cmd, "--config")


def test_min_insync_replicas_above_the_replication_factor_is_refused():
    out = dry_run(KIM_KAFKA_REPLICATION_FACTOR="1", KIM_KAFKA_MIN_INSYNC_REPLICAS="2")
    assert out.returncode != 0 and "KIM_KAFKA_MIN_INSYNC_REPLICAS (2) must not exceed" in out.stderr


def test_default_partitions_are_the_ones_the_local_stack_and_the_referrals_service_use():
    kinds = {t: kind for t, kind in topic_templates().items() if kind != "partner"}
    kinds |= {"kim.partner.caritas-unna": "partner"}
    partitions = {option_values(c, "--topic")[0]: option_values(c, "--partitions")[0]
                  for c in commands() if "--create" in c}
    assert {t: int(partitions[t]) for t in kinds} == {t: PARTITIONS[kind] for t, kind in kinds.items()}


def test_referrals_may_create_the_topic_of_a_partner_registered_later():
    assert ("Create", "topic", "prefixed", "kim.partner.") in acls(commands(), "kim-referrals")


def test_partition_counts_come_from_the_environment():
    cmds = commands(KIM_SERVICE_TOPIC_PARTITIONS="12", KIM_DLQ_TOPIC_PARTITIONS="2")
    partitions = {option_values(c, "--topic")[0]: option_values(c, "--partitions")[0] for c in cmds if "--create" in c}
    assert partitions["kim.cases"] == "12" and partitions["kim.dlq.cases"] == "2"


def test_every_service_and_partner_gets_its_scram_user():
    users = {}
    for cmd in commands():
        if cmd[0] == "kafka-configs.sh" and option_values(cmd, "--entity-type") == ["users"]:
            users[option_values(cmd, "--entity-name")[0]] = option_values(cmd, "--add-config")[0]
    assert users == {
        **{f"kim-{s}": f"SCRAM-SHA-512=[iterations=8192,password={PASSWORD}{s}]" for s in SERVICES},
        "partner-caritas-unna": f"SCRAM-SHA-512=[iterations=8192,password={PASSWORD}1]",
        "partner-abh-kreis-unna": f"SCRAM-SHA-512=[iterations=8192,password={PASSWORD}2]",
    }


def test_a_partner_may_read_only_its_own_topic_with_its_own_group_prefix():
    cmds = commands()
    assert acls(cmds, "partner-caritas-unna") == {
        ("Read", "topic", "literal", "kim.partner.caritas-unna"),
        ("Describe", "topic", "literal", "kim.partner.caritas-unna"),
        ("Read", "group", "prefixed", "partner.caritas-unna."),
    }


def test_a_service_writes_only_its_own_topics():
    cmds = commands()
    for s in SERVICES:
        granted = acls(cmds, f"kim-{s}")
        writes = {name for op, kind, _, name in granted if op == "Write"}
        extra = {"kim.partner."} if s == "referrals" else set()
        assert writes == {f"kim.{s}", f"kim.dlq.{s}", ANCHOR_TOPIC} | extra  # every service anchors its store
        assert {f"kim.{other}" for other in SERVICES} <= {n for op, k, _, n in granted if op == "Read" and k == "topic"}
        # the runtime names its consumer groups kim-<service>-<handler>
        assert ("Read", "group", "prefixed", f"kim-{s}-") in granted


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"KIM_PARTNERS": f"Caritas:{PASSWORD}"}, "partner organisation id 'Caritas'"),
        ({"KIM_PARTNERS": "caritas-unna"}, "must be <organisation-id>:<password>"),
        ({"KIM_PARTNERS": "caritas-unna:short"}, "password of partner caritas-unna"),
        ({"KIM_CASES_KAFKA_PASSWORD": ""}, "KIM_CASES_KAFKA_PASSWORD is not set"),
        ({"KIM_KAFKA_ADMIN_PASSWORD": 'has"quote-in-it'}, "KIM_KAFKA_ADMIN_PASSWORD must be"),
    ],
)
def test_bad_settings_stop_init_with_a_message_that_says_what_to_fix(overrides, message):
    result = dry_run(**overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_no_partners_is_a_valid_start():
    topics = {option_values(c, "--topic")[0] for c in commands(KIM_PARTNERS="") if "--create" in c}
    assert not any(t.startswith("kim.partner.") for t in topics)


@pytest.mark.parametrize(
    "script", ["deploy/kafka-init/kafka-init.sh", "deploy/kafka-init/broker-start.sh", "deploy/postgres/init.sh"]
)
def test_shell_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def script_variables(path: Path) -> set[str]:
    return set(re.findall(r"\$\{(KIM_[A-Z_]+|CLUSTER_ID|KAFKA_LOG_DIRS)[:}]", path.read_text()))


def test_compose_gives_the_scripts_every_variable_they_read():
    services = compose()["services"]
    internal = {"KIM_KAFKA_INIT_DRY_RUN", "KIM_TOPICS_FILE", "KIM_KAFKA_CONFIG_DIR"}
    init_env_names = set(environment(services["kafka-init"]))
    assert script_variables(KAFKA_DIR / "kafka-init.sh") - internal <= init_env_names
    assert {f"KIM_{s.upper()}_KAFKA_PASSWORD" for s in SERVICES} <= init_env_names
    assert script_variables(KAFKA_DIR / "broker-start.sh") - internal <= set(environment(services["kafka"]))


# --- the broker configuration the official image renders from the KAFKA_* variables ---------------------------


def broker_properties() -> dict[str, str]:
    """What KafkaDockerWrapper writes: KAFKA_ dropped, lower case, '_' -> '.', '...' -> '-', '..' -> '_'."""
    props = {}
    for key, value in environment(compose()["services"]["kafka"]).items():
        if key.startswith("KAFKA_") and key != "KAFKA_HEAP_OPTS":  # broker-start.sh keeps that one for the JVM
            name = key.removeprefix("KAFKA_").lower().replace("_", ".").replace("...", "-").replace("..", "_")
            props[name] = value
    return props


def listeners(spec: str) -> dict[str, str]:
    return dict(re.match(r"([A-Z_]+)://(.*)", item).groups() for item in spec.split(","))


def test_broker_listeners_are_consistent_and_every_sasl_listener_can_log_in():
    p = broker_properties()
    bound = listeners(p["listeners"])
    protocols = dict(item.split(":") for item in p["listener.security.protocol.map"].split(","))
    assert set(bound) == set(protocols)
    advertised = listeners(p["advertised.listeners"])
    assert set(advertised) <= set(bound) and p["controller.listener.names"] not in advertised
    assert p["inter.broker.listener.name"] in advertised
    for name, protocol in protocols.items():
        if protocol.startswith("SASL"):
            assert f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config" in p, name
    # The controller listener is plaintext, so it must not be reachable from outside the container.
    assert protocols[p["controller.listener.names"]] == "PLAINTEXT"
    assert bound[p["controller.listener.names"]].startswith("localhost:")
    assert p["controller.quorum.voters"] == f"{p['node.id']}@{bound[p['controller.listener.names']]}"


def test_broker_denies_by_default_and_only_the_admin_is_a_super_user():
    p = broker_properties()
    assert p["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert p["allow.everyone.if.no.acl.found"] == "false"
    assert p["auto.create.topics.enable"] == "false"
    assert p["super.users"] == "User:kim-admin;User:ANONYMOUS"  # ANONYMOUS: the loopback controller listener
    assert 'username="kim-admin"' in p["listener.name.client.scram-sha-512.sasl.jaas.config"]


def test_partner_topics_keep_records_as_long_in_compose_as_in_the_local_stack():
    """Issue 19: a finite partner-topic retention, the same for kafka-init, the referrals service and `kim run`."""
    from kim_runtime.topics import PARTNER_RETENTION_MS

    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("kafka-init", "referrals"):
        value = spec["services"][name]["environment"]["KIM_PARTNER_TOPIC_RETENTION_MS"]
        assert value == f"${{KIM_PARTNER_TOPIC_RETENTION_MS:-{PARTNER_RETENTION_MS}}}", name
