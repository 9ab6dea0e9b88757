"""What the routers share: the roles that may read, the service's state on the app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from kim_reporting.adapters.lag import EndOffsets
from kim_reporting.settings import ReportingSettings
from kim_runtime.auth import Role
from kim_runtime.projection import Projection
from kim_runtime.service import ServiceRuntime

READERS = (Role.CASE_MANAGER, Role.TEAM_LEAD, Role.AUDITOR, Role.ADMIN)
REPORTERS = (Role.TEAM_LEAD, Role.ADMIN)


@dataclass
class Service:
    settings: ReportingSettings
    runtime: ServiceRuntime
    projections: list[Projection]
    offsets: EndOffsets
    rebuild: dict = field(default_factory=dict)  # state of the last rebuild, for GET /admin/rebuild


def service(request: Request) -> Service:
    return request.app.state.service
