"""`kim run --base-port N` (security probe): the referrals service must reach *this* run's cases service for a
partner's consented personal data, and name *this* run's partner API in ce_dataschema. With the defaults (8001,
8003) on another base port, GET /partner/referrals/{id}/person answered 503 and every partner record pointed at
another instance's (or nobody's) port, where the referrals service also sent its service token."""

from __future__ import annotations

from types import SimpleNamespace

from kim_cli import processes as procs
from kim_cli import run_cmd


SECRETS = {"auth_secret": "a" * 32, "service_token_secret": "t" * 32, "pseudonym_secret": "p" * 32,
           "master_key": "k:" + "A" * 44, "audit_signing_key": "s" * 44}


def test_the_services_are_pointed_at_each_other_on_the_run_s_own_ports(monkeypatch, tmp_path):
    envs: dict[str, dict[str, str]] = {}

    def start(name, port, env, logs):
        envs[name] = env
        return SimpleNamespace(name=name, port=port, pid=1, url=f"http://127.0.0.1:{port}", log_path=logs / name)

    async def nothing(*args, **kwargs):
        return []

    monkeypatch.setattr(run_cmd, "port_open", lambda port: False)
    monkeypatch.setattr(run_cmd, "_fresh", nothing)
    monkeypatch.setattr(procs, "ensure_service_roles", nothing)
    monkeypatch.setattr(procs, "start_service", start)
    monkeypatch.setattr(procs, "wait_ready", lambda started: None)
    handle = SimpleNamespace(database_url=lambda db: f"postgresql://postgres@127.0.0.1:5/{db}",
                             kafka_bootstrap="127.0.0.1:6", postgres_url="postgresql://postgres@127.0.0.1:5/postgres",
                             config=SimpleNamespace(logs_dir=tmp_path, dir=tmp_path), secure=None, kafka_options={})
    secrets = SECRETS
    monkeypatch.delenv("KIM_REFERRALS_CASES_URL", raising=False)
    monkeypatch.delenv("KIM_CASES_URL", raising=False)

    run_cmd.start_all(handle, 33001, secrets)

    assert envs["referrals"]["KIM_REFERRALS_CASES_URL"] == "http://127.0.0.1:33001"
    assert envs["referrals"]["KIM_REFERRALS_PUBLIC_URL"] == "http://127.0.0.1:33003"
    assert envs["reporting"]["KIM_REPORTING_CASES_URL"] == "http://127.0.0.1:33001"  # the clients' sealing keys
    # the services' tokens to each other are signed with a secret of their own, which the four services get
    assert {name: env.get("KIM_SERVICE_TOKEN_SECRET") for name, env in envs.items()} == dict.fromkeys(
        procs.SERVICES, "t" * 32)
    assert all(env["KIM_AUTH_SECRET"] == "a" * 32 for env in envs.values())


def test_partner_admin_env_and_the_web_app_never_get_the_service_token_secret(monkeypatch, tmp_path):
    """partner-admin.env is what `kim partner onboard` needs (KIM_AUTH_SECRET among it): with the service token
    secret in it, whoever onboards partners could sign a kim-reporting token and read every sealing key."""
    broker = SimpleNamespace(bootstrap="127.0.0.1:7", admin_user="admin", admin_password="pw",
                             partner_bootstrap="127.0.0.1:8", ca_file=tmp_path / "ca.pem")
    handle = SimpleNamespace(secure=broker, config=SimpleNamespace(dir=tmp_path))
    services = [SimpleNamespace(name=n, url=f"http://127.0.0.1:{9000 + i}") for i, n in enumerate(procs.SERVICES)]
    files = run_cmd.partner_files(handle, services, SECRETS)
    text = files["env"].read_text()
    assert "KIM_AUTH_SECRET=" + "a" * 32 in text  # what onboarding needs is there
    assert "KIM_SERVICE_TOKEN_SECRET" not in text and "t" * 32 not in text
    monkeypatch.setenv("KIM_SERVICE_TOKEN_SECRET", "t" * 32)  # even if the operator's shell has it
    assert "KIM_SERVICE_TOKEN_SECRET" not in procs.web_env(urls={}, port=1)
