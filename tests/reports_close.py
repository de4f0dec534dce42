"""Reports compared number by number: equal to a relative tolerance, everything else exactly."""

from __future__ import annotations

import math
from typing import Any


def assert_reports_close(
    a: Any, b: Any, rel: float = 1e-12, path: str = "report", absolute: float = 1e-15
) -> None:
    """``a`` and ``b`` have the same keys, lists and texts, and numbers equal to ``rel``
    relative (NaN equals NaN). Numbers that are differences of sums near 1 (the within-bin
    terms of the Brier decomposition, about 1e-4) carry the sums' rounding, about 1e-16, so
    ``absolute`` bounds what is compared: the same tolerance as the thread-split tests."""
    if isinstance(a, dict):
        assert isinstance(b, dict), path
        assert a.keys() == b.keys(), (path, sorted(set(a) ^ set(b)))
        for key in a:
            assert_reports_close(a[key], b[key], rel, f"{path}.{key}", absolute)
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_reports_close(x, y, rel, f"{path}[{i}]", absolute)
    elif isinstance(a, float) and not isinstance(a, bool):
        assert isinstance(b, float | int), path
        if math.isnan(a):
            assert math.isnan(b), path
        else:
            assert math.isclose(a, b, rel_tol=rel, abs_tol=absolute), (path, a, b)
    else:
        assert a == b, (path, a, b)
