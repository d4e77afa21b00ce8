"""The boundary parsers: a checked value, or BadInput naming its field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from compute.validate import (format_number, parse_bounds, parse_choice, parse_grid, parse_int, parse_points,
                              parse_range)
from models.errors import BadInput


def _refused(parse, *args, field: str) -> str:
    with pytest.raises(BadInput) as caught:
        parse(*args)
    assert caught.value.field == field
    return caught.value.message


def test_integers_within_bounds():
    assert parse_int(" 7 ", "n", 0, 10) == 7 and parse_int("-3", "n") == -3
    assert _refused(parse_int, "7.5", "n", field="n") == "'7.5' is not an integer"
    assert _refused(parse_int, True, "n", field="n") == "True is not an integer"
    assert _refused(parse_int, "11", "n", 0, 10, field="n") == "must be between 0 and 10, got 11"
    assert _refused(parse_int, "-1", "step", 0, field="step") == "must be >= 0, got -1"
    assert _refused(parse_points, "1", field="points") == "number of points must be between 2 and 2001, got 1"


def test_choices_ranges_and_grids():
    assert parse_choice("log", "y", {"linear": "linear", "log": "log"}) == "log"
    assert _refused(parse_choice, "cubic", "y", ("linear", "log"), field="y") == "'cubic' is not one of linear, log"
    assert parse_range("-1:1.5", "beta") == (-1.0, 1.5)
    assert _refused(parse_range, "1:inf", "alpha", field="alpha").startswith("bound must be finite")
    assert parse_bounds(None, None, "beta", optional=True) == (None, None)
    assert _refused(parse_bounds, 0, None, "beta", field="beta") == "beta range needs both bounds"
    assert parse_grid("41X21") == (41, 21) and parse_grid([3, 4]) == (3, 4)
    assert _refused(parse_grid, "41", "grid", field="grid") == "resolution '41' must be NxM, e.g. 41x41"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_number_reads_back_as_the_same_float(x):
    text = format_number(x)
    assert float(text) == x and not text.endswith(".0")
    assert math.copysign(1.0, float(text)) == math.copysign(1.0, x)
