"""The cases domain: Client and Case aggregates. Plain objects, no I/O: methods check rules and return events."""

from kim_cases.domain.case import Case, Phase
from kim_cases.domain.client import Client
from kim_cases.domain.consent import ConsentState

__all__ = ["Case", "Client", "ConsentState", "Phase"]
