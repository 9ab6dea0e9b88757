"""What the routers share: the readers' rule of the policy, the service's state on the app."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from fastapi import Request

from kim_reporting.adapters.lag import EndOffsets
from kim_reporting.settings import ReportingSettings
from kim_runtime.policy import authorize
from kim_runtime.projection import Projection
from kim_runtime.service import ServiceRuntime

READER = authorize("indicators.read")  # the county's staff: indicators, reports, exports; never partners


@dataclass
class Service:
    settings: ReportingSettings
    runtime: ServiceRuntime
    projections: list[Projection]
    offsets: EndOffsets
    rebuild: dict = field(default_factory=dict)  # state of the last rebuild, for GET /admin/rebuild

    async def close(self) -> None:
        """At stop: a running rebuild is cancelled, the end-offset client closed."""
        task = self.rebuild.get("task")
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await self.offsets.close()


async def service(request: Request) -> Service:
    """The service's objects, set by the composition root once the runtime has started (kim_reporting.bootstrap);
    a route's policy dependency answers before any use of them."""
    return getattr(request.app.state, "service", None)
