"""How many examples the heavy property tests generate: their default in `make test`, times KIM_PROPERTY_SCALE
(default 1; e.g. 5 for a nightly run). Each test asserts it ran at least two thirds of its count, so a scale that
makes hypothesis stop early (or a filter that rejects too much) fails instead of passing on a few examples."""

from __future__ import annotations

import os


def examples(default: int) -> int:
    scale = float(os.environ.get("KIM_PROPERTY_SCALE", "1"))
    return max(3, round(default * scale))


def enough(default: int) -> int:
    return max(2, examples(default) * 2 // 3)
