"""Text <-> value helpers of the address and the form: the app's one set of boundary parsers.

Every app module that reads or writes a value's text goes through these names, so that they can
be replaced in one place by the engine's own boundary module (compute/validate.py, which will
hold parse_range, parse_int, parse_choice, parse_points, parse_splits, parse_dropout_samples and
format_number). Each raises BadInput with the field named.
"""

from __future__ import annotations

from models.errors import BadInput
from compute.queries import parse_dropout_samples, parse_grid, parse_points, parse_range, parse_splits

__all__ = ["num", "range_text", "parse_int", "parse_float", "parse_choice", "parse_optional_range",
           "parse_range", "parse_points", "parse_splits", "parse_dropout_samples", "parse_grid"]


def num(x: float) -> str:
    """Shortest text that reads back as the same float: 1.0 -> '1', 0.25 -> '0.25'."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def range_text(r: tuple[float, float] | None) -> str:
    """'A:B' of a range; '' for none."""
    return "" if r is None else f"{num(r[0])}:{num(r[1])}"


def parse_int(text: str, field: str, minimum: int | None = 0, maximum: int | None = None) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise BadInput(f"{text!r} is not an integer", field=field) from None
    if minimum is not None and value < minimum:
        raise BadInput(f"must be >= {minimum}, got {value}", field=field)
    if maximum is not None and value > maximum:
        raise BadInput(f"must be <= {maximum}, got {value}", field=field)
    return value


def parse_float(text: str, field: str, minimum: float, maximum: float) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise BadInput(f"{text!r} is not a number", field=field) from None
    if not minimum <= value <= maximum:  # NaN fails this too
        raise BadInput(f"must be between {num(minimum)} and {num(maximum)}, got {text!r}", field=field)
    return value


def parse_choice(text: str, field: str, choices) -> str:
    """`text` if it is one of `choices` (any container of strings, e.g. a {value: label} dict)."""
    if text not in choices:
        raise BadInput(f"{text!r} is not one of {', '.join(choices)}", field=field)
    return text


def parse_optional_range(text: str, field: str) -> tuple[float, float] | None:
    """'A:B', or empty for none (a zoom window, a surface range fitted to the trajectory)."""
    text = str(text).strip()
    return None if text == "" else parse_range(text, field)
