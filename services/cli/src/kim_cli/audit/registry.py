"""The projections `kim replay` can rebuild: each service's kim_<service>.projections.PROJECTIONS.

A module of one's own (tests, experiments) can be named with --module; it exposes PROJECTIONS and, optionally,
SERVICE (the service whose database holds them).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from kim_runtime.projection import Projection
from kim_runtime.topics import SERVICES

from kim_cli.audit.connect import UserError


@dataclass(frozen=True)
class Registered:
    service: str | None
    projection: Projection


def _load(module_name: str) -> list[Projection] | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return list(getattr(module, "PROJECTIONS", None) or [])


def registered(module: str | None = None, service: str | None = None) -> tuple[list[Registered], list[str]]:
    """(projections found, services without a projections module)."""
    if module:
        found = _load(module)
        if found is None:
            raise UserError(f"cannot import module {module}: check the name (it must be importable from the venv)")
        owner = service or getattr(importlib.import_module(module), "SERVICE", None)
        return [Registered(owner, p) for p in found], []
    out, lacking = [], []
    for svc in [service] if service else SERVICES:
        found = _load(f"kim_{svc}.projections")
        if found is None:
            lacking.append(svc)
        out += [Registered(svc, p) for p in found or []]
    return out, lacking


def select(name: str | None, *, service: str | None, module: str | None) -> list[Registered]:
    """The projection called `name`, or every projection of `service`; errors list what there is."""
    if service and service not in SERVICES and not module:
        raise UserError(f"unknown service {service!r}: choose one of {', '.join(SERVICES)}")
    if not name and not service and not module:
        raise UserError("name a projection, or --service NAME for all of one service's projections")
    found, lacking = registered(module, service)
    if name:
        chosen = [r for r in found if r.projection.name == name]
    else:
        chosen = found
    if not chosen:
        known = ", ".join(sorted(r.projection.name for r in found)) or "none"
        hint = f" (no projections module in: {', '.join(lacking)})" if lacking else ""
        what = f"projection {name!r}" if name else f"projections of {service}"
        raise UserError(f"no {what}; known projections: {known}{hint}")
    return chosen
