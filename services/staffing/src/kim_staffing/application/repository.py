"""The staffing aggregates' repositories (kim_runtime.commands): each loads one kind of record from its stream,
refusing an id that another kind of record uses, and appends its decisions with the expected version, inside the
caller's unit of work."""

from __future__ import annotations

from kim_runtime.commands import Repository
from kim_runtime.store import EventStore
from kim_schemas.staffing import CaseManagerAssigned, GrantAwarded

from ..adapters.events import SOURCE
from ..domain.assignment import CaseAssignment
from ..domain.grant import Grant
from ..domain.position import POSITION_EVENTS, Position


class Repositories:
    def __init__(self, store: EventStore):
        self.store = store
        self.grants = Repository(store, Grant, source=SOURCE, kinds=(GrantAwarded,))
        self.positions = Repository(store, Position, source=SOURCE, kinds=POSITION_EVENTS)
        self.assignments = Repository(store, CaseAssignment, source=SOURCE, kinds=(CaseManagerAssigned,))
