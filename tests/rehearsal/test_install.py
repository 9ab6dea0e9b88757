"""Each service runs from a venv made the way deploy/Dockerfile makes it (`uv sync --frozen --no-dev --no-editable
--package kim-<service>`): its packages installed (not linked to the checkout), no dev packages, started from a
folder outside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rehearsal.topology import ROOT, SERVICES, Rehearsal


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_runs_from_its_installed_venv_without_the_source_tree(rehearsal: Rehearsal, service):
    venv = rehearsal.venv(service)
    site = next(venv.glob("lib/python3*/site-packages"))
    for package in (f"kim_{service}", "kim_runtime", "kim_schemas"):
        assert (site / package / "__init__.py").is_file(), f"{package} is not installed into the venv"
    links = [p for p in site.glob("*.pth") if str(ROOT / "services") in p.read_text()]
    assert not links, f"editable installs point into the checkout: {links}"
    assert not (site / "pytest").exists() and not (site / "hypothesis").exists(), "dev packages were installed"
    pid = rehearsal.services[service].pid
    assert Path(f"/proc/{pid}/cwd").resolve() == rehearsal.work.resolve()
    assert not rehearsal.work.resolve().is_relative_to(ROOT)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[0].decode() == str(venv / "bin" / "python")
    environ = dict(item.split(b"=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if item)
    assert b"KIM_ENV" not in environ  # production settings: no public dev-only defaults
    assert environ[b"KIM_KAFKA_SECURITY_PROTOCOL"] == b"SASL_PLAINTEXT"
    assert environ[b"KIM_KAFKA_SASL_USERNAME"] == f"kim-{service}".encode()
