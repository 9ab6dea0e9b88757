"""Consumers name the events they take by class; the runtime derives the type names, in one place."""

from __future__ import annotations

import pytest

from kim_runtime.dispatch import accepted, by_type
from kim_schemas import cases as cev


def test_accepted_derives_the_type_names_from_event_classes():
    assert accepted((cev.CaseOpened, cev.CaseClosed)) == {"kim.cases.CaseOpened", "kim.cases.CaseClosed"}
    assert accepted(None) is None


@pytest.mark.parametrize("event_types", [
    (cev.CaseOpened, cev.CaseOpened.event_type),  # a name derived beforehand, next to a class
    frozenset({cev.CaseClosed.event_type}),
    cev.CaseOpened.event_type,  # one name, which would otherwise read as its characters
])
def test_accepted_refuses_type_names_in_place_of_classes(event_types):
    with pytest.raises(TypeError, match="event classes"):
        accepted(event_types)


def test_by_type_keys_handlers_by_the_classes_type_names_in_order():
    handlers = by_type({cev.CaseClosed: 1, cev.CaseOpened: 2})
    assert list(handlers.items()) == [("kim.cases.CaseClosed", 1), ("kim.cases.CaseOpened", 2)]
