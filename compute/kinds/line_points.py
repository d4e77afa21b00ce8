"""The points an adaptive line evaluated, kept for reuse: every point of the same line (the same
endpoints, splits, dtype and options, whatever the window or grid) is kept under `points_key` in
the cache of the job computing the line (compute/job_context.py `current_cache`: Redis on the
workers, so a zoom computed on one worker reuses what another evaluated; the files of the embedded
default under --local). Reuse is a saving, not a need: an entry that cannot be read or checked is
a miss."""

from __future__ import annotations

import hashlib
import logging

from .. import ENGINE_VERSION
from ..chunks import finite_or_null
from ..job_context import current_cache
from ..queries import Query
from ..service_errors import RedisUnavailable

log = logging.getLogger(__name__)


def points_key(query: Query) -> str:
    """The cache key of the points evaluated on the line a query samples, whatever its grid."""
    out = query.to_json()
    for name in ("alpha_min", "alpha_max", "points", "tolerance"):
        out.pop(name, None)
    payload = f"landscape/{ENGINE_VERSION}/{sorted(out.items())!r}".encode()
    return f"linepoints-{hashlib.sha256(payload).hexdigest()[:40]}"


STORED_POINTS = 4000  # most points kept per line (the newest): ten adaptive lines' worth


def check_points(query: Query):
    """The check of a points entry of `query`'s line (ResultCache.read): raises unless every point
    is a one-point part with every field the query asks for, so that an entry cut short, of
    another schema or of another line is a miss (computed again), never a failed job."""
    fields = ("cost", "error") + (("dcost", "d2cost") if query.derivatives else ())

    def one_value(values, what: str) -> None:
        if not isinstance(values, list) or len(values) != 1:
            raise ValueError(f"{what} is not one value")
        finite_or_null(values, what)

    def check(_key: str, stored: dict) -> None:
        points = stored["points"]
        if not isinstance(points, list):
            raise ValueError("its points are not a list")
        for point in points:
            one_value(point["alpha"], "alpha")
            if point["alpha"][0] is None:
                raise ValueError("a point without alpha")
            for field in fields:
                for s in query.splits:
                    if not (field == "error" and point[field][s] is None):
                        one_value(point[field][s], f"{field} of {s}")
            for by_split in point["extra"].values():
                for s in query.splits:
                    one_value(by_split[s], f"an extra of {s}")
            float(point["meta"]["seconds"])
    return check


def stored_points(key: str, query: Query) -> dict[float, dict]:
    cache = current_cache()
    if cache is None:  # computed outside any job: nothing was kept for it
        return {}
    try:
        stored = cache.read(key, check_points(query)) or {"points": []}
    except RedisUnavailable as exc:  # reuse is a saving, not a need: compute them again
        log.warning("adaptive line: no reuse of earlier points (%s)", exc)
        return {}
    return {p["alpha"][0]: p for p in stored["points"]}


def store_points(key: str, points: dict[float, dict]) -> None:
    cache = current_cache()
    if cache is None:
        return
    try:
        kept = [{k: v for k, v in p.items() if k not in ("query", "key")} for p in points.values()]
        cache.set(key, {"points": kept[-STORED_POINTS:]})
    except RedisUnavailable as exc:
        log.warning("adaptive line: its points are not kept for reuse (%s)", exc)


def point_parts(part: dict) -> list[dict]:
    """A chunk's part as one part per point (each as a chunk of one point)."""
    n = len(part["alpha"])
    meta = dict(part["meta"], seconds=part["meta"]["seconds"] / n)
    pick = lambda by_split, i: {s: (v[i:i + 1] if v is not None else None) for s, v in by_split.items()}  # noqa: E731
    return [{"alpha": part["alpha"][i:i + 1], "cost": pick(part["cost"], i), "error": pick(part["error"], i),
             "extra": {k: pick(by_split, i) for k, by_split in part["extra"].items()},
             "dcost": pick(part.get("dcost", {}), i), "d2cost": pick(part.get("d2cost", {}), i),
             "query": part["query"], "key": part["key"], "meta": meta} for i in range(n)]
