"""Placeholder until the schemas package fills it: upcast(type, version, data) returns the data unchanged."""

from __future__ import annotations

_STEPS: dict[tuple[str, int], object] = {}


def register(event_type: str, from_version: int, fn) -> None:
    _STEPS[(event_type, from_version)] = fn


def upcast(event_type: str, version: int, data: dict) -> tuple[int, dict]:
    while (step := _STEPS.get((event_type, version))) is not None:
        data = step(data)
        version += 1
    return version, data
