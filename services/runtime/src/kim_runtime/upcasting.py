"""Upcasting: turn the stored data of an older schema version into the newest, one small step per schema version.

A step is a pure function ``fn(data) -> data`` that turns schema version N into N + 1 (an event's schema version
says which shape its data has; its stream version, where it stands in its stream, never changes). The event contract
(kim_schemas, found through its entry point) registers its steps on import; the runtime calls :func:`upcast` when it
reads an event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Data = dict[str, Any]
Upcaster = Callable[[Data], Data]


class UpcasterChain:
    """Steps keyed by (event type, from schema version)."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_schema_version: int, fn: Upcaster) -> Upcaster:
        key = (event_type, from_schema_version)
        if from_schema_version < 1:
            raise ValueError(f"{event_type}: from_schema_version must be >= 1, got {from_schema_version}")
        if key in self._steps and self._steps[key] is not fn:
            raise ValueError(f"{event_type} v{from_schema_version} -> v{from_schema_version + 1} has an upcaster "
                             "already")
        self._steps[key] = fn
        return fn

    def upcast(self, event_type: str, schema_version: int, data: Data) -> tuple[int, Data]:
        """Apply every registered step from ``schema_version`` on; returns (newest schema version reached, data)."""
        while (step := self._steps.get((event_type, schema_version))) is not None:
            data = step(dict(data))
            schema_version += 1
        return schema_version, data

    def steps(self) -> list[tuple[str, int]]:
        return sorted(self._steps)


DEFAULT_CHAIN = UpcasterChain()


def register(event_type: str, from_schema_version: int, fn: Upcaster) -> Upcaster:
    """Register ``fn`` as the step from schema version ``from_schema_version`` to the next of ``event_type``."""
    return DEFAULT_CHAIN.register(event_type, from_schema_version, fn)


_contract_loaded = False


def _load_contract() -> None:
    """The contract registers its steps on import; make sure it is loaded wherever events are read.

    It is found through its entry point (contract.default_contract), never imported by name: kim_schemas depends on
    the runtime, not the other way round. A process without a contract only sees the steps registered by hand.
    """
    global _contract_loaded
    _contract_loaded = True
    from .contract import default_contract  # noqa: PLC0415 - contract imports envelope; this module stays bare

    try:
        default_contract()
    except LookupError:
        pass


def upcast(event_type: str, schema_version: int, data: Data) -> tuple[int, Data]:
    """Upcast stored ``data`` of ``event_type`` at ``schema_version`` to the newest schema version with a step."""
    if not _contract_loaded:
        _load_contract()
    return DEFAULT_CHAIN.upcast(event_type, schema_version, data)
