"""kim stack settings: defaults, KIM_* overrides, URLs, and the Kafka pin matching deploy/kafka/pom.xml."""

from __future__ import annotations

import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pydantic import ValidationError

from kim_cli import stack_kafka, stack_postgres
from kim_cli.stack import DEFAULT_KAFKA_VERSION, StackConfig, StackHandle
from kim_cli.stack_config import find_repo_root

STACK_ENV = ["KIM_STACK_DIR", "KIM_KAFKA_PORT", "KIM_KAFKA_CONTROLLER_PORT", "KIM_POSTGRES_PORT", "KIM_KAFKA_VERSION",
             "KIM_KAFKA_BOOTSTRAP", "KIM_POSTGRES_URL", "KIM_KAFKA_BROKERS"]


@pytest.fixture
def clean_env(monkeypatch):
    for name in STACK_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_env):
    cfg = StackConfig.from_env()
    assert (cfg.kafka_port, cfg.kafka_controller_port, cfg.postgres_port) == (9092, 9093, 5432)
    assert cfg.kafka_version == DEFAULT_KAFKA_VERSION
    assert cfg.dir == find_repo_root() / ".cache" / "stack"
    assert cfg.local_kafka and cfg.local_postgres
    assert cfg.bootstrap() == "127.0.0.1:9092"
    assert cfg.admin_url() == "postgresql://postgres@127.0.0.1:5432/postgres"


def test_environment_overrides_ports_dir_and_version(clean_env, tmp_path):
    clean_env.setenv("KIM_STACK_DIR", str(tmp_path / "s"))
    clean_env.setenv("KIM_KAFKA_PORT", "19192")
    clean_env.setenv("KIM_KAFKA_CONTROLLER_PORT", "19193")
    clean_env.setenv("KIM_POSTGRES_PORT", "15532")
    clean_env.setenv("KIM_KAFKA_VERSION", "4.0.1")
    cfg = StackConfig.from_env()
    assert cfg.dir == tmp_path / "s"
    assert (cfg.kafka_port, cfg.kafka_controller_port, cfg.postgres_port) == (19192, 19193, 15532)
    assert cfg.kafka_version == "4.0.1"
    assert cfg.bootstrap() == "127.0.0.1:19192"
    assert cfg.admin_url().endswith("@127.0.0.1:15532/postgres")


def test_existing_servers_replace_the_local_ones(clean_env):
    clean_env.setenv("KIM_KAFKA_BOOTSTRAP", "kafka.example:9094")
    clean_env.setenv("KIM_POSTGRES_URL", "postgresql://kim:secret@db.example:5433/postgres")
    cfg = StackConfig.from_env()
    assert not cfg.local_kafka and not cfg.local_postgres
    assert cfg.bootstrap() == "kafka.example:9094"
    assert cfg.admin_url() == "postgresql://kim:secret@db.example:5433/postgres"


@pytest.mark.parametrize(("name", "value"), [("KIM_KAFKA_PORT", "0"), ("KIM_POSTGRES_PORT", "70000"),
                                             ("KIM_KAFKA_PORT", "abc"), ("KIM_KAFKA_VERSION", "latest")])
def test_invalid_settings_are_rejected(clean_env, name, value):
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError):
        StackConfig.from_env()


def test_database_url_keeps_credentials_and_query_and_swaps_the_database():
    handle = StackHandle("127.0.0.1:9092", "postgresql://kim:pw@db:5433/postgres?sslmode=disable")
    assert handle.database_url("kim_cases") == "postgresql://kim:pw@db:5433/kim_cases?sslmode=disable"
    assert stack_postgres.redact(handle.postgres_url) == "postgresql://kim:***@db:5433/postgres?sslmode=disable"


@pytest.mark.parametrize("bad", ["Kim", "kim-cases", "x; drop table t", "", "a" * 64])
def test_database_names_are_checked(bad):
    with pytest.raises(ValueError, match="database name"):
        stack_postgres.check_name(bad)


def test_pom_pins_the_default_kafka_version():
    pom = ET.parse(find_repo_root() / "deploy" / "kafka" / "pom.xml")
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    assert pom.findtext("m:properties/m:kafka.version", namespaces=ns) == DEFAULT_KAFKA_VERSION
    artifacts = {d.findtext("m:artifactId", namespaces=ns) for d in pom.iterfind("m:dependencies/m:dependency", ns)}
    assert "kafka_2.13" in artifacts
    assert DEFAULT_KAFKA_VERSION.startswith("4.")


def test_rendered_broker_config_listens_on_loopback_only(clean_env, tmp_path):
    cfg = StackConfig(stack_dir=tmp_path, kafka_port=19192, kafka_controller_port=19193)
    text = stack_kafka.write_config(cfg).read_text()
    props = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert "$" not in text
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19193"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "data")
    assert props["process.roles"] == "broker,controller"
    assert props["log.retention.ms"] == "-1"
    assert props["num.partitions"] == "3"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_three_brokers_are_three_kraft_nodes_on_loopback_with_replicated_topics(clean_env, tmp_path):
    cfg = StackConfig(stack_dir=tmp_path, kafka_port=19192, kafka_controller_port=19193, kafka_brokers=3)
    assert cfg.bootstrap() == "127.0.0.1:19192,127.0.0.1:19202,127.0.0.1:19212"
    assert (cfg.replication_factor, cfg.min_insync_replicas) == (3, 2)
    rendered = {}
    for node in stack_kafka.nodes(cfg):
        text = stack_kafka.write_config(cfg, node).read_text()
        rendered[node] = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert [p["node.id"] for p in rendered.values()] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in rendered.values()} == {
        "1@127.0.0.1:19193,2@127.0.0.1:19203,3@127.0.0.1:19213"}
    assert rendered[2]["listeners"] == "PLAINTEXT://127.0.0.1:19202,CONTROLLER://127.0.0.1:19203"
    assert rendered[3]["log.dirs"] == str(tmp_path / "kafka-3" / "data")
    assert len({p["log.dirs"] for p in rendered.values()}) == 3
    for props in rendered.values():
        assert props["default.replication.factor"] == props["offsets.topic.replication.factor"] == "3"
        assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "2"
    assert stack_kafka.cluster_id(cfg) == stack_kafka.cluster_id(cfg)  # one cluster id for the three nodes


def test_one_broker_keeps_its_folder_and_replication_factor_one(clean_env, tmp_path):
    cfg = StackConfig(stack_dir=tmp_path, kafka_port=19192, kafka_controller_port=19193)
    props = dict(line.split("=", 1) for line in stack_kafka.write_config(cfg).read_text().splitlines()
                 if line and not line.startswith("#"))
    assert stack_kafka.paths(cfg)["pid"] == tmp_path / "kafka.pid"
    assert (props["default.replication.factor"], props["min.insync.replicas"], props["node.id"]) == ("1", "1", "1")


def test_the_brokers_setting_comes_from_the_environment(clean_env):
    clean_env.setenv("KIM_KAFKA_BROKERS", "3")
    assert StackConfig.from_env().kafka_brokers == 3
    clean_env.setenv("KIM_KAFKA_BROKERS", "0")
    with pytest.raises(ValidationError):
        StackConfig.from_env()


def test_a_bootstrap_of_several_brokers_reaches_the_client_as_a_list(monkeypatch):
    """FastStream wraps a string bootstrap into a one-element list, which aiokafka then takes as one host: the
    runtime splits it; and the services' producers wait for every in-sync replica (acks=all)."""
    from kim_runtime import kafka
    from kim_runtime.settings import RuntimeSettings

    assert kafka.bootstrap_servers("a:1, b:2,c:3") == ["a:1", "b:2", "c:3"]
    assert kafka.bootstrap_servers("a:1") == ["a:1"]
    with pytest.raises(ValueError):
        kafka.bootstrap_servers(" , ")
    seen = {}
    monkeypatch.setattr(kafka, "KafkaBroker", lambda servers, **kw: seen.update(servers=servers, **kw))
    kafka.make_broker(RuntimeSettings(service="cases", kafka_bootstrap="127.0.0.1:1,127.0.0.1:2"))
    assert seen["servers"] == ["127.0.0.1:1", "127.0.0.1:2"]
    assert seen["acks"] == "all" and seen["enable_idempotence"] is True


def test_cluster_id_is_a_kafka_uuid():
    ids = {stack_kafka._cluster_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)


def test_the_test_stack_has_its_own_dir_and_ports(clean_env):
    run, tests = StackConfig.from_env(), StackConfig.for_tests()
    assert tests.dir == find_repo_root() / ".cache" / "test-stack"
    assert (tests.kafka_port, tests.kafka_controller_port, tests.postgres_port) == (29092, 29093, 29432)
    assert tests.dir != run.dir
    assert not {tests.kafka_port, tests.kafka_controller_port, tests.postgres_port} & {
        run.kafka_port, run.kafka_controller_port, run.postgres_port}


def test_kim_variables_still_place_the_test_stack(clean_env, tmp_path):
    clean_env.setenv("KIM_KAFKA_PORT", "24092")
    clean_env.setenv("KIM_STACK_DIR", str(tmp_path / "t"))
    cfg = StackConfig.for_tests()
    assert (cfg.kafka_port, cfg.kafka_controller_port, cfg.postgres_port) == (24092, 29093, 29432)
    assert cfg.dir == tmp_path / "t"


def test_child_processes_find_the_same_stack_through_its_environment(clean_env):
    cfg = StackConfig.for_tests()
    for name, value in cfg.environment().items():
        clean_env.setenv(name, value)
    child = StackConfig.from_env()
    assert (child.dir, child.bootstrap(), child.admin_url()) == (cfg.dir, cfg.bootstrap(), cfg.admin_url())


def test_the_stack_plans_every_non_partner_topic_with_compose_s_partitions():
    from kim_cli.stack_topics import planned_topics
    from kim_runtime.topics import ANCHOR_TOPIC, PARTITIONS, SERVICE_TOPICS, dead_letter_topic

    expected = {t: PARTITIONS["service"] for t in SERVICE_TOPICS.values()}
    expected |= {dead_letter_topic(s): PARTITIONS["dlq"] for s in SERVICE_TOPICS} | {ANCHOR_TOPIC: PARTITIONS["audit"]}
    assert planned_topics(find_repo_root()) == expected


@pytest.mark.parametrize(("root", "mode", "outside"), [(False, 0o700, False), (True, 0o755, False),
                                                        (True, 0o700, True)])
def test_postgres_data_leaves_a_folder_its_user_cannot_enter(clean_env, root, mode, outside):
    base = find_repo_root() / ".cache" / "test-stacks"  # every folder above it may be entered (pytest's tmp may not)
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="clone-", dir=base))
    folder.chmod(mode)
    clean_env.setattr(stack_postgres.os, "geteuid", lambda: 0 if root else 1000)
    cfg = StackConfig(stack_dir=folder / ".cache" / "stack")
    data = stack_postgres.paths(cfg)["data"]
    try:
        assert data.is_relative_to(stack_postgres.OUTSIDE_DATA_ROOT) == outside
        assert data.is_relative_to(folder) == (not outside)
    finally:
        shutil.rmtree(folder)


def test_kim_stack_up_brokers_3_starts_three_nodes(clean_env, monkeypatch):
    from typer.testing import CliRunner

    from kim_cli import stack, stack_cmd

    seen = {}

    def fake_up(cfg, log):
        seen["cfg"] = cfg
        return StackHandle(cfg.bootstrap(), cfg.admin_url(), [], 0.0, cfg)

    monkeypatch.setattr(stack, "ensure_up", fake_up)
    result = CliRunner().invoke(stack_cmd.app, ["up", "--brokers", "3"])
    assert result.exit_code == 0, result.output
    assert seen["cfg"].kafka_brokers == 3
    assert seen["cfg"].bootstrap() == "127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112"
    assert CliRunner().invoke(stack_cmd.app, ["up", "--brokers", "0"]).exit_code != 0
