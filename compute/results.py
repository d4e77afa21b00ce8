"""The JSON/CSV helpers every result type uses (each result type lives with its kind, compute/kinds/).
A result is plain arrays plus the query it answers; its JSON is what the CLI prints, what the cache
holds and what the page's data download gives.

JSON has no NaN or Infinity (JSON.parse and jq refuse Python's `NaN`): `json_safe` writes every
non-finite number as null, once over a whole result (each result's to_json ends with it), and
`dumps` is the one way JSON text is written (CLI, cache, API), with allow_nan=False as the guard.
Where a null stands for a number that matters, the result says so beside it (a line's
meta.nonfinite and meta.nonfinite_alpha: the points where J is not finite).
"""

from __future__ import annotations

import csv
import io
import json
import math
import numbers



def json_safe(obj):
    """`obj` with every non-finite number (NaN, +-inf, also numpy's) as None, every other float a
    float; dicts, lists and tuples are copied (tuples as lists), anything else is kept as it is."""
    if isinstance(obj, float) or (isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj, **kwargs) -> str:
    """JSON text of `obj`, non-finite numbers as null: what the CLI prints, the cache and the API
    write. allow_nan=False: json itself refuses a NaN that got past json_safe (a float type it
    does not know)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def clean_floats(values) -> list:
    """A series as floats, non-finite values as None (flagged in `meta` where they matter)."""
    return [None if v is None else json_safe(float(v)) for v in values]


def csv_cell(v) -> str:
    """A float as CSV: its repr, or empty when missing or not finite."""
    return "" if v is None or not math.isfinite(float(v)) else repr(float(v))


def csv_table(columns: list[tuple[str, list]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([name for name, _ in columns])
    for row in zip(*[values for _, values in columns]):
        writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()
