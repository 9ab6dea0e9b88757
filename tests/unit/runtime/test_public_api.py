"""kim_runtime's public API (`kim_runtime.__all__`): services, the web app, the CLI and the event contract import
only public modules of the runtime, and only their public names; every runtime module is declared public or
internal. Read from the source (ast), so an import inside a function counts too."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import kim_runtime

ROOT = Path(__file__).resolve().parents[3]
RUNTIME = ROOT / "services/runtime/src/kim_runtime"
CLIENTS = [ROOT / f"services/{s}/src" for s in ("cases", "staffing", "referrals", "reporting", "web", "cli")] + [
    ROOT / "schemas/src"]


def runtime_imports(root: Path):
    """(file, line, module, name) of every import from kim_runtime under root; name None for `import kim_runtime.x`
    and for `from kim_runtime import x` (then module is x)."""
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("kim_runtime."):
                        yield where, alias.name.split(".")[1], None
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "kim_runtime":
                    for alias in node.names:
                        yield where, alias.name, None
                elif node.module.startswith("kim_runtime."):
                    for alias in node.names:
                        yield where, node.module.split(".")[1], alias.name


IMPORTS = [i for root in CLIENTS for i in runtime_imports(root)]


def test_every_runtime_module_is_declared_public_or_internal_once():
    modules = {p.stem for p in RUNTIME.glob("*.py") if p.stem != "__init__"}
    public, internal = set(kim_runtime.__all__), set(kim_runtime.INTERNAL)
    assert not public & internal
    assert public | internal == modules, "declare a new module in kim_runtime.__all__ or kim_runtime.INTERNAL"


def test_the_clients_of_the_runtime_were_found():
    assert len(IMPORTS) > 100 and {m for _, m, _ in IMPORTS} >= {"store", "errors", "auth", "service"}


def test_services_the_cli_and_the_contract_import_only_public_modules():
    offending = [f"{where}: kim_runtime.{module}" for where, module, _ in IMPORTS
                 if module not in kim_runtime.__all__]
    assert offending == [], "internal runtime modules imported from outside: " + ", ".join(offending)


def test_they_import_only_public_names_that_exist():
    offending = []
    for where, module, name in IMPORTS:
        if name is None:
            continue
        mod = importlib.import_module(f"kim_runtime.{module}")
        public = getattr(mod, "__all__", None)
        if name.startswith("_") or not hasattr(mod, name) or (public is not None and name not in public):
            offending.append(f"{where}: kim_runtime.{module}.{name}")
    assert offending == [], "private or missing runtime names imported: " + ", ".join(offending)


@pytest.mark.parametrize("bad", ["from kim_runtime.outbox import OutboxRelay", "import kim_runtime.consumer",
                                 "from kim_runtime.store import _SELECT", "from kim_runtime import telemetry"])
def test_the_check_catches_an_internal_import(tmp_path, bad):
    (tmp_path / "m.py").write_text(bad + "\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = list(runtime_imports(tmp_path))
    finally:
        ROOT = saved
    [(_, module, name)] = found
    assert module not in kim_runtime.__all__ or (name or "").startswith("_")


# -- the CLI uses a service's public functions, not its internals ---------------------------------------------------
SERVICES = ("kim_cases", "kim_staffing", "kim_referrals", "kim_reporting")


def service_imports(root: Path):
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Import):
                yield from ((where, a.name, None) for a in node.names if a.name.split(".")[0] in SERVICES)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] in SERVICES:
                yield from ((where, node.module, a.name) for a in node.names)


def test_the_cli_and_the_web_app_use_only_a_services_public_module():
    found = [i for s in ("cli", "web") for i in service_imports(ROOT / f"services/{s}/src")]
    assert any(module == "kim_cases.public" for _, module, _ in found)
    offending = []
    for where, module, name in found:
        if module.endswith(".bootstrap") and name == "build_app":
            continue  # the composition root: the OpenAPI contract builds each service's app
        public = importlib.import_module(module) if module.endswith(".public") else None
        if public is None or name not in public.__all__:
            offending.append(f"{where}: {module}.{name}")
    assert offending == [], "service internals imported by the CLI or the web app: " + ", ".join(offending)


def test_the_audit_reader_is_a_state_reader():
    from kim_cases.application.audit_trail import Opener
    from kim_cases.application.views import StateReader

    assert isinstance(Opener("c-1", None, reveal=False), StateReader)
