"""Upcasters: one small function per version step, registered with the runtime's chain on import.

When a breaking change needs a new version, add the new model (the old one stays), then a step here."""

from __future__ import annotations

from kim_runtime.upcasting import Data, register


def residence_status_recorded_v1_to_v2(data: Data) -> Data:
    """v2 adds status_since; v1 only knew the recording date, which is the best estimate."""
    return {**data, "status_since": data["recorded_on"]}


register("kim.cases.ResidenceStatusRecorded", 1, residence_status_recorded_v1_to_v2)
