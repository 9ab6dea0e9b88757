"""KIM Hub event contract: versioned event models, their registry and upcasters.

    from kim_schemas import EVENT_TYPES, latest, parse
    model = latest("kim.cases.CaseOpened")
    event = parse("kim.cases.ResidenceStatusRecorded", 1, stored_data)  # upcast to the newest version
"""

from kim_schemas import cases, partner, referrals, reporting, staffing, upcasters  # noqa: F401  (register)
from kim_schemas.base import EVENT_TYPES, REGISTRY, Event, EventRegistry, UnknownEventType, event, latest, parse
from kim_schemas.types import Encrypted

__all__ = [
    "EVENT_TYPES",
    "REGISTRY",
    "Encrypted",
    "Event",
    "EventRegistry",
    "UnknownEventType",
    "event",
    "latest",
    "parse",
]
