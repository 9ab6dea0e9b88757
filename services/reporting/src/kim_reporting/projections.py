"""The reporting projections, one per topic; `kim replay` rebuilds them (PROJECTIONS, topics from the environment)."""

from __future__ import annotations

from kim_runtime.topics import service_topic

from .adapters.projections.cases import CasesProjection
from .adapters.sealing_keys import SealingKeys
from .adapters.projections.referrals import ReferralsProjection
from .adapters.projections.reports import ReportsProjection
from .adapters.projections.staffing import StaffingProjection
from .settings import ReportingSettings


def projections_for(settings: ReportingSettings, cases_transport=None) -> list:
    def topic(service: str) -> str:
        return service_topic(service) + settings.topic_suffix

    cases = CasesProjection([topic("cases")])
    cases.use_keys(SealingKeys(settings.cases_url, settings.service_token_secret, cases_transport))
    return [cases, ReferralsProjection([topic("referrals")]),
            StaffingProjection([topic("staffing")]), ReportsProjection([topic("reporting")])]


PROJECTIONS = projections_for(ReportingSettings())
