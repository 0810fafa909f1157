"""What crosses the file boundary: plain JSON values.

NaN and inf are not JSON; every report and the results stream write them as the strings
``"nan"``, ``"inf"`` and ``"-inf"``.
"""
from __future__ import annotations

import math


def json_safe(obj):
    """Replace NaN and inf (not JSON) with strings, recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj
