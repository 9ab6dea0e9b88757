"""No import cycle between kim_runtime and kim_schemas: the event contract builds on the runtime (its pyproject
depends on kim-runtime), and the runtime names the contract nowhere. It finds it through the entry point group
`kim_runtime.contract`. Read from the source (ast), so an import inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from pydantic import TypeAdapter

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = {"kim_runtime": ROOT / "services/runtime/src/kim_runtime", "kim_schemas": ROOT / "schemas/src/kim_schemas"}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def package_graph() -> dict[str, set[str]]:
    return {pkg: {dep for f in src.rglob("*.py") for dep in imported_packages(f) if dep in PACKAGES and dep != pkg}
            for pkg, src in PACKAGES.items()}


def test_the_package_import_graph_has_no_cycle():
    graph = package_graph()
    assert graph == {"kim_runtime": set(), "kim_schemas": {"kim_runtime"}}, graph


def test_the_runtime_finds_the_contract_through_its_entry_point():
    from kim_runtime.contract import default_contract
    from kim_schemas import REGISTRY

    assert default_contract() is REGISTRY


def test_reading_an_event_loads_the_contracts_upcasters_without_naming_the_contract():
    """A fresh process that imports only the runtime still upcasts stored data with the contract's steps."""
    code = ("import sys; from kim_runtime import store; assert 'kim_schemas' not in sys.modules; "
            "from kim_runtime.upcasting import upcast; "
            "print(upcast('kim.cases.ClientRegistered', 1, {'client_id': 'c', 'personal': None, "
            "'birth_band': None, 'arrival_band': None})[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) >= 2


def test_the_runtimes_input_types_accept_what_the_contract_accepts():
    from kim_runtime import types as runtime
    from kim_schemas import types as contract

    for name in ("OrganisationId", "LanguageCode"):
        assert runtime.__dict__[name].__metadata__ == contract.__dict__[name].__metadata__, name
    assert TypeAdapter(runtime.OrganisationId).validate_python("caritas-unna") == "caritas-unna"


WEB = {"fastapi", "starlette"}
SERVICES = ("cases", "staffing", "referrals", "reporting")


def test_application_domain_and_adapter_code_imports_no_web_framework():
    """Only a service's entrypoints (and its composition root, bootstrap.py) know HTTP: the application layer raises
    kim_runtime.errors, which kim_runtime.http maps to problem answers in one place."""
    offenders = []
    for service in SERVICES:
        src = ROOT / f"services/{service}/src/kim_{service}"
        for layer in ("application", "domain", "adapters"):
            offenders += [f"{f.relative_to(ROOT)}: {sorted(imported_packages(f) & WEB)}"
                          for f in (src / layer).rglob("*.py") if imported_packages(f) & WEB]
    assert offenders == []


def test_services_name_contract_events_by_class_never_by_type_string():
    """Handlers, projections and queries choose events by the contract's classes (kim_runtime.dispatch.by_type,
    types_of, `Event.event_type`): a type written out as a string ("kim.cases.CaseOpened") outlives a renamed or
    removed event silently. Read from the source (ast): every string constant that is a contract event type."""
    from kim_schemas import EVENT_TYPES

    types = {event_type for event_type, _ in EVENT_TYPES}
    spelled = [f"{f.relative_to(ROOT)}:{node.lineno}: {node.value}"
               for service in SERVICES for f in (ROOT / f"services/{service}/src").rglob("*.py")
               for node in ast.walk(ast.parse(f.read_text(), str(f)))
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in types]
    assert spelled == []
