"""A trend line drawn with text: ``▁▂▃▅▇`` from a series of numbers.

A label is the cheapest thing a Blender panel can draw (no image, no GPU draw handler),
so the health dashboard shows each service's response-time trend as one line of
block characters. Pure Python; gaps (no checks in a slot) are drawn as ``·``.
"""

from __future__ import annotations

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = "·"
DEFAULT_WIDTH = 32


def downsample(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most ``width`` points: each the mean of the values in its slice (gaps stay gaps)."""
    if width <= 0:
        return []
    if len(values) <= width:
        return list(values)
    points: list[float | None] = []
    for index in range(width):
        start = index * len(values) // width
        end = (index + 1) * len(values) // width
        present = [value for value in values[start:end] if value is not None]
        points.append(sum(present) / len(present) if present else None)
    return points


def sparkline(values: Sequence[float | None], width: int = DEFAULT_WIDTH, low: float | None = None, high: float | None = None) -> str:
    """One character per point, scaled between ``low`` and ``high`` (the data's range by default)."""
    points = downsample(values, width)
    present = [value for value in points if value is not None]
    if not present:
        return GAP * len(points)
    bottom = min(present) if low is None else low
    top = max(present) if high is None else high
    span = top - bottom
    chars = []
    for value in points:
        if value is None:
            chars.append(GAP)
            continue
        level = 0 if span <= 0 else round((min(max(value, bottom), top) - bottom) / span * (len(BLOCKS) - 1))
        chars.append(BLOCKS[level])
    return "".join(chars)


__all__ = ["BLOCKS", "DEFAULT_WIDTH", "GAP", "downsample", "sparkline"]
