"""The boundary parsers: text (a CLI flag, a form field, a URL parameter, a query's JSON) in, a
checked value out, or `BadInput(field=...)` saying what is wrong. Queries (compute/queries.py),
the address parser, the views and the CLI all use these; inside, values are trusted.

`format_number` goes the other way: the shortest text that reads back as the same float.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Iterable

from models.errors import BadInput

MAX_POINTS = 2001
MAX_DROPOUT_SAMPLES = 1000
MAX_SIDE = 201  # a surface is at most 201 x 201
# Seeds: 0 to 2^32 - 1. Every generator we seed (torch's, numpy's) takes them as they are; larger
# ones either overflow (torch: >= 2^64) or alias (numpy's legacy and some initializers reduce a
# seed mod 2^32), so two addresses would name one draw under two keys.
MAX_SEED = 2**32 - 1
SPLITS = ("train", "valid", "test")
DTYPES = ("float32", "float64", "bfloat16", "float16")  # float32: exact; the half precisions: previews
DEFAULT_DTYPE = "float32"
BN_POLICIES = ("interpolate", "recompute")  # BatchNorm statistics between checkpoints: compute/batchnorm.py
DEFAULT_BN = "interpolate"
# A random endpoint is the initializer's draw times SCALE: (0, MAX_RANDOM_SCALE]. The paper's points
# "of large norm" (Figs 5, 10) are about 10x the draw; 1e6 leaves five orders of magnitude above
# that, while the point, its norm (a float64 sum of squares) and the costs of the zoo's shallow nets
# stay finite in float32. Far above it (1e20 already) every cost overflows, and at 1e308 the point
# itself is inf: a line of nothing but nulls.
MAX_RANDOM_SCALE = 1e6
MAX_PORT = 65535

# Numbers are written in ASCII: Python's int() and float() also take '1_000', Arabic-Indic '١٢' and
# full-width '１０', which no address or option should mean (nor name a second cache key).
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.ASCII | re.I)


def format_number(x: float) -> str:
    """Shortest text that reads back as the same float: 1.0 -> '1', 0.25 -> '0.25'."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _ascii_number(text, pattern: re.Pattern) -> str | None:
    """`text` stripped when it is a str written as `pattern` says (ASCII digits only), else None."""
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    return stripped if pattern.fullmatch(stripped) else None


def parse_finite(text, field: str, what: str = "value") -> float:
    """A finite float from ASCII text ('1e-3', '-2.5'), or a number (a query's JSON holds them)."""
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        value = float(text)
    elif (written := _ascii_number(text, _FLOAT)) is not None:
        value = float(written)
    else:
        raise BadInput(f"{what} {text!r} is not a number", field=field)
    if not math.isfinite(value):
        raise BadInput(f"{what} must be finite, got {text}", field=field)
    return value


def parse_float(text, field: str, minimum: float | None = None, maximum: float | None = None,
                positive: bool = False) -> float:
    """A finite number, > 0 when `positive`, within [minimum, maximum] where given."""
    x = parse_finite(text, field)
    if (positive and x <= 0) or (minimum is not None and x < minimum) or (maximum is not None and x > maximum):
        bounds = "> 0" if positive else f"in [{minimum}, {maximum}]"
        raise BadInput(f"must be {bounds}, got {x}", field=field)
    return x


def parse_int(text, field: str, minimum: int | None = None, maximum: int | None = None,
              what: str | None = None) -> int:
    """An integer (not a bool) within [minimum, maximum] where given; `what` starts the messages."""
    if isinstance(text, numbers.Integral) and not isinstance(text, bool):
        n = int(text)
    else:
        written = _ascii_number(text, _INTEGER)
        try:
            n = int(written) if written is not None else None
        except ValueError:  # more digits than int() reads (4300)
            n = None
    lead = f"{what} " if what else ""
    if n is None:
        raise BadInput(f"{lead}{text!r} is not an integer", field=field)
    if minimum is not None and maximum is not None and not minimum <= n <= maximum:
        raise BadInput(f"{lead}must be between {minimum} and {maximum}, got {n}", field=field)
    if minimum is not None and n < minimum:
        raise BadInput(f"{lead}must be >= {minimum}, got {n}", field=field)
    if maximum is not None and n > maximum:
        raise BadInput(f"{lead}must be <= {maximum}, got {n}", field=field)
    return n


def parse_seed(text, field: str = "seed", what: str = "seed") -> int:
    """A random seed, 0 to MAX_SEED (2^32 - 1)."""
    return parse_int(text, field, 0, MAX_SEED, what=what)


def parse_random_scale(text, field: str = "scale") -> float:
    """A random endpoint's scale: a factor on the initializer's draw, in (0, MAX_RANDOM_SCALE]."""
    scale = parse_finite(text, field, "random endpoint scale")
    if not 0 < scale <= MAX_RANDOM_SCALE:
        raise BadInput(f"a random point's scale must be in (0, {format_number(MAX_RANDOM_SCALE)}] (about 10 is a point "
                       f"of large norm, Figs 5 and 10), got {text}", field=field)
    return scale


def parse_port(text, field: str = "port") -> int:
    """A TCP port to listen on, 1 to 65535."""
    return parse_int(text, field, 1, MAX_PORT)


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)


def parse_host(text, field: str = "host") -> str:
    """An address to listen on: an IPv4/IPv6 address or a host name that resolves (never a path)."""
    import ipaddress
    import socket

    host = str(text).strip()
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if not host or len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise BadInput(f"{host[:80]!r} is not an IP address or a host name", field=field)
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        raise BadInput(f"{host!r} does not resolve to an address", field=field) from None
    return host


def parse_folder(text, field: str = "data") -> str:
    """An existing folder, as an absolute path (a name too long, or a path the system refuses, is
    a BadInput rather than an OSError)."""
    from pathlib import Path

    try:
        path = Path(str(text)).expanduser().resolve()
        exists = path.is_dir()
    except (OSError, ValueError) as exc:
        raise BadInput(f"data folder {str(text)[:80]!r} cannot be used: {getattr(exc, 'strerror', None) or exc}",
                       field=field) from None
    if not exists:
        raise BadInput(f"data folder {text} does not exist", field=field)
    return str(path)


def check_grid(lo: float, hi: float, points: int, field: str) -> None:
    """A uniform grid of `points` values from lo to hi must be representable: a finite width and
    distinct, increasing floats (-1e308:1e308 overflows; 1:1.0000000000000002 has no room)."""
    import numpy as np

    width = hi - lo
    if not math.isfinite(width):
        raise BadInput(f"range {format_number(lo)}:{format_number(hi)} is too wide to compute (its width "
                       "overflows a float)", field=field)
    with np.errstate(all="ignore"):
        grid = np.linspace(lo, hi, points)
    if not np.all(np.isfinite(grid)) or not np.all(np.diff(grid) > 0):
        raise BadInput(f"range {format_number(lo)}:{format_number(hi)} cannot hold {points} distinct points "
                       "as floats: widen it or ask for fewer points", field=field)


def format_work(flops: float) -> str:
    """An amount of work, e.g. 3.2e15 FLOP."""
    return f"{flops:.2g} FLOP"


def parse_choice(text, field: str, choices: Iterable[str], what: str | None = None) -> str:
    """One of `choices` (a dict gives its keys)."""
    choices = list(choices)
    if text not in choices:
        message = f"must be one of {', '.join(choices)}, got {text!r}"
        raise BadInput(f"{what} {message}" if what else f"{text!r} is not one of {', '.join(choices)}", field=field)
    return text


def parse_range(text: str, field: str = "alpha") -> tuple[float, float]:
    """'A:B' with A < B, both finite (negative and > 1 allowed)."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise BadInput(f"range {text!r} must be A:B", field=field)
    lo, hi = (parse_finite(p.strip(), field, "bound") for p in parts)
    if not lo < hi:
        raise BadInput(f"range {text!r} must have A < B", field=field)
    return lo, hi


def parse_optional_range(text, field: str) -> tuple[float, float] | None:
    """'A:B', or empty for none (a zoom window, a surface range fitted to the trajectory)."""
    text = "" if text is None else str(text).strip()
    return None if text == "" else parse_range(text, field)


def format_range(r: tuple[float, float] | None) -> str:
    """'A:B' of a range, the text parse_range reads back; '' for none."""
    return "" if r is None else f"{format_number(r[0])}:{format_number(r[1])}"


def parse_bounds(lo, hi, field: str, optional: bool = False) -> tuple[float | None, float | None]:
    """Two finite bounds with lo < hi; with `optional`, both may be None ("auto")."""
    if optional and lo is None and hi is None:
        return None, None
    if lo is None or hi is None:
        raise BadInput(f"{field} range needs both bounds", field=field)
    lo, hi = (parse_finite(v, field, "bound") for v in (lo, hi))
    if not lo < hi:
        raise BadInput(f"{field} range must have A < B, got {lo}:{hi}", field=field)
    return lo, hi


def parse_points(value, field: str = "points", maximum: int = MAX_POINTS) -> int:
    return parse_int(value, field, 2, maximum, what="number of points")


def parse_grid(value, field: str = "points", maximum: int = MAX_SIDE) -> tuple[int, int]:
    """'NxM' (or [N, M]): N rows along alpha, M columns along beta, each 2..maximum."""
    parts = str(value).lower().split("x") if isinstance(value, str) else list(value)
    if len(parts) != 2:
        raise BadInput(f"resolution {value!r} must be NxM, e.g. 41x41", field=field)
    return tuple(parse_points(p, field, maximum) for p in parts)  # type: ignore[return-value]


def parse_splits(value: str | tuple | list, field: str = "splits") -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [s.strip() for s in items if s.strip()]
    bad = [s for s in items if s not in SPLITS]
    if bad or not items:
        raise BadInput(f"splits must be a non-empty subset of {','.join(SPLITS)}, got {value!r}", field=field)
    return tuple(s for s in SPLITS if s in items)  # canonical order, no duplicates


def parse_dropout_samples(value, field: str = "dropout_samples") -> int:
    """0 (eval mode) or the number of Monte-Carlo dropout passes, at most MAX_DROPOUT_SAMPLES."""
    n = parse_int(value, field, what="dropout samples")
    if not 0 <= n <= MAX_DROPOUT_SAMPLES:
        raise BadInput(f"dropout samples must be between 0 (dropout off) and {MAX_DROPOUT_SAMPLES}, got {n}",
                       field=field)
    return n


def parse_dtype(value: str, field: str = "dtype") -> str:
    return parse_choice(value, field, DTYPES, what="dtype")


def parse_bn(value, field: str = "bn") -> str:
    """A BatchNorm policy: interpolate (the statistics mixed like the parameters) or recompute."""
    return parse_choice(str(value).strip() if value is not None else DEFAULT_BN, field, BN_POLICIES,
                        what="BatchNorm policy")


# --- line options: adaptive alpha, derivatives, aligned endpoints ----------------------------------
AUTO_POINTS = "auto"  # points=auto: an adaptive alpha grid (compute/adaptive.py)
DEFAULT_TOLERANCE = 1e-3  # an adaptive grid's tolerance, relative to the curve's range


def parse_line_points(value, field: str = "points") -> int | str:
    """A line's number of points (2..MAX_POINTS), or "auto" for an adaptive grid."""
    if isinstance(value, str) and value.strip().lower() == AUTO_POINTS:
        return AUTO_POINTS
    return parse_points(value, field)


def parse_tolerance(value, field: str = "tolerance") -> float:
    """An adaptive grid's tolerance: a fraction of the curve's range, in [1e-6, 0.5]."""
    return parse_float(value, field, 1e-6, 0.5)


def parse_flag(value, field: str) -> bool:
    """An on/off option: 1/0, true/false, on/off, yes/no, or a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "on", "yes"):
        return True
    if text in ("0", "false", "off", "no", ""):
        return False
    raise BadInput(f"{field} must be 1 or 0, got {value!r}", field=field)
