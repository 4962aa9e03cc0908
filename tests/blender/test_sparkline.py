"""The text sparkline of the health dashboard."""

from __future__ import annotations

from movie_director.blender.sparkline import BLOCKS, GAP, downsample, sparkline


def test_values_are_scaled_from_lowest_to_highest_block() -> None:
    assert sparkline([0, 7, 14], width=3) == BLOCKS[0] + BLOCKS[4] + BLOCKS[7]


def test_gaps_and_empty_series() -> None:
    assert sparkline([None, 5.0, None], width=3) == GAP + BLOCKS[0] + GAP
    assert sparkline([None, None], width=2) == GAP * 2
    assert sparkline([], width=8) == ""


def test_a_flat_series_is_a_flat_line_and_fixed_bounds_clamp() -> None:
    assert sparkline([3, 3, 3]) == BLOCKS[0] * 3
    assert sparkline([-5, 50, 500], low=0, high=100) == BLOCKS[0] + BLOCKS[4] + BLOCKS[7]


def test_long_series_are_averaged_down_to_the_width() -> None:
    points = downsample([1, 3, None, None, 10, 20], 3)
    assert points == [2, None, 15]
    assert len(sparkline(list(range(1000)), width=32)) == 32
    assert downsample([1, 2], 0) == []
