"""The job kind "surface" (`SURFACE_KIND`, listed in compute/kinds/__init__.py): chunks of grid points,
whole rows or parts of rows sized by the work estimate (see `split_surface`), and over streamed data
too big for a chunk also ranges of the data's shards (`surface_data_cut`); the first chunk of a
plane carries the trajectory.

    landscape surface RUN --kind paper --points 41x41 --splits train,valid
    landscape surface RUN --kind random-plane --normalization filter --seed 3 --alpha=-1:1 --beta=-1:1
"""

from __future__ import annotations

from models.errors import BadInput

from ...chunks import ChunkKind, check_carries_query, finite_or_null, index_ranges
from ...evaluator import Progress
from ...store import Store
from ..shards import data_chunks, shard_cut
from .grid import join_span_shards, row_width
from .paper import paper_part
from .plane import plane_part
from .query import SurfaceQuery, resolve_surface, surface_work
from .result import SurfaceResult


def compute_surface(query: SurfaceQuery, store: Store, progress: Progress | None = None) -> SurfaceResult:
    """The whole surface of `query` in one part: one evaluator call per row."""
    part = surface_part(query, store, [0, query.rows * row_width(query)], progress)
    return SurfaceResult.from_json(assemble_surface(query, [part]))


def surface_part(query: SurfaceQuery, store: Store, span: list[int], progress: Progress | None = None,
                 shards: range | None = None) -> dict:
    """The part of the surface over the grid points `span` (see `split_surface`), as JSON; with
    `shards`, over those shards of the data only (see `surface_data_cut`)."""
    if query.surface == "paper":
        return paper_part(query, store, span, progress, shards)
    return plane_part(query, store, span, progress, shards)


# A row cut into parts keeps at least this many points per part: the evaluator's first-layer reuse
# needs a call to hold more points than the row's 3 basis vectors.
MIN_ROW_PART = 4
# The most grid points of a surface chunk however cheap its model (scalar-linear: ~20 rows of 201).
# Below that a chunk holds about budget.CHUNK_WORK: not the 32 points of a line's chunk, for each
# evaluator call pays a set-up (the line fast path's dense start: ~0.1 s for a `small` MLP, as
# much as 60 of its points): a 201-point row of relu-mnist/small in 7 parts (32 points) took
# 2.4-3x as long as in one call, in 2 parts (at most 111 points, by the work estimate) 1.05-1.35x.
SURFACE_CHUNK_POINTS = 4096


def split_surface(query: SurfaceQuery, points_per_chunk: int) -> list[list[int]]:
    """Chunks as [lo, hi) ranges of grid points, numbered row-major (`row_width` points a row).
    Whole rows, as many as fit in `points_per_chunk`, when a row fits; else every row in nearly
    equal parts of about `points_per_chunk` points (at least MIN_ROW_PART), so a surface's chunks
    take about as long as a line's. A `paper` surface may end up with fewer rows than asked (see
    `paper_rows`): chunks past its end compute nothing.

    Each part is one evaluator call, and a call's values can depend on which points share it (the
    line fast path of compute/linefast.py expands about the middle of the points it is given): so
    a row cut in parts agrees with the same row in one call to float rounding, not bit for bit.
    The parts depend on the query alone (`points_per_chunk` is the job layer's, made from the
    query), so every path that computes a query computes the same parts and the same values."""
    width = row_width(query)
    if points_per_chunk >= width:
        return [[lo * width, hi * width] for lo, hi in index_ranges(query.rows, points_per_chunk // width, minimum=1)]
    parts = index_ranges(width, points_per_chunk, minimum=MIN_ROW_PART)
    return [[r * width + lo, r * width + hi] for r in range(query.rows) for lo, hi in parts]


def surface_data_cut(query: SurfaceQuery, store: Store, points_per_chunk: int) -> tuple[int, int] | None:
    """(shards per chunk, shards) when a surface's chunks should be cut by data too (as a line's:
    compute/kinds/shards.py): streamed data in shards, and one chunk of `points_per_chunk` points
    over all of it more than a chunk's work. Not for other dtypes, recomputed BatchNorm statistics
    (estimated over the whole training split at every point) or the Hessian plane (its
    eigenvectors need the whole split's Hessian in one chunk)."""
    if query.dtype != "float32" or query.bn == "recompute" or query.surface == "hessian":
        return None
    try:
        found = surface_work(query, store)
    except BadInput:  # a run that cannot be loaded: its job fails with that message
        return None
    return shard_cut(store.load(query.run), query.splits, found.per_point * _data_cut_points(query, points_per_chunk))


def _data_cut_points(query: SurfaceQuery, points_per_chunk: int) -> int:
    """Grid points a chunk of a surface cut by data spans: a row (or less), then cut by shards."""
    return min(points_per_chunk, row_width(query))


def split_surface_data(query: SurfaceQuery, points_per_chunk: int, shards_per_chunk: int,
                       num_shards: int) -> list[list[int]]:
    """[lo, hi, first shard, last shard + 1]: every row (or part of a row) times ranges of shards."""
    return data_chunks(split_surface(query, _data_cut_points(query, points_per_chunk)), shards_per_chunk, num_shards)


def assemble_surface(query: SurfaceQuery, parts: list[dict]) -> dict:
    """The result's JSON from the parts of all chunks, in chunk order."""
    if "partial" in parts[0]:  # cut by data: each span's shards added up first
        parts = join_span_shards(parts, list(query.splits))
    first, width = parts[0], row_width(query)
    splits = list(first["cost"])
    rows = [r for p in parts for r in p["rows"]]
    flat = {s: [v for p in parts for v in p["cost"][s]] for s in splits}
    if any(len(v) != len(rows) * width for v in flat.values()):
        raise ValueError(f"{len(flat[splits[0]])} points for {len(rows)} rows of {width}")
    grid = {s: [v[i * width:(i + 1) * width] for i in range(len(rows))] for s, v in flat.items()}
    result = {"alpha": [r["alpha"] for r in rows], "beta": first["beta"], "query": first["query"], "key": first["key"]}
    meta = dict(first["meta"], seconds=round(sum(p["meta"]["seconds"] for p in parts), 4), chunks=len(parts))
    precision = [p["meta"]["precision_error"] for p in parts if p["meta"].get("precision_error") is not None]
    meta["precision_error"] = max(precision) if precision else None  # |J - J in float32|, measured; None in float32
    if query.surface == "paper":  # the last point of each row is its path point
        result["cost"] = {s: [row[:-1] for row in grid[s]] for s in splits}
        result["path"] = {"beta": [r["path_beta"] for r in rows], "step": [r["step"] for r in rows],
                          "turn": [r["turn"] for r in rows], "cost": {s: [row[-1] for row in grid[s]] for s in splits}}
        on_path = [r for r in rows if r["step"] is not None]
        result["trajectory"] = {"step": [r["step"] for r in on_path], "alpha": [r["alpha"] for r in on_path],
                                "beta": [r["path_beta"] for r in on_path],
                                "cost": {s: [r["path_cost"][s] for r in on_path] for s in splits},
                                "residual": [0.0] * len(on_path), "plane_cost": None}
        meta["borrowed_directions"] = sum(r["borrowed"] for r in rows)
        mismatch = [p["meta"]["path_mismatch"] for p in parts if p["meta"].get("path_mismatch") is not None]
        meta["path_mismatch"] = max(mismatch) if mismatch else None
    else:  # planes: the trajectory came with the first chunk
        result["cost"], result["path"], result["trajectory"] = grid, None, first["trajectory"]
    result["meta"] = meta
    return result


def check_surface(query: SurfaceQuery, result: dict) -> None:
    """Shape and finiteness of an assembled surface, before it is cached."""
    check_carries_query(query, result)
    rows, columns = len(result["alpha"]), len(result["beta"])
    if columns != query.columns or not 2 <= rows <= query.rows:
        raise ValueError(f"a {rows} x {columns} grid for a {query.rows} x {query.columns} query")
    if list(result["cost"]) != list(query.splits):
        raise ValueError(f"costs for {list(result['cost'])}, asked for {list(query.splits)}")
    for s, grid in result["cost"].items():
        if len(grid) != rows or any(len(r) != columns for r in grid):
            raise ValueError(f"cost of {s} is not {rows} x {columns}")
        for r in grid:
            finite_or_null(r, f"cost of {s}")
    traj = result["trajectory"]
    n = len(traj["step"])
    series = [traj["alpha"], traj["beta"], traj["residual"], *traj["cost"].values()]
    series += list((traj.get("plane_cost") or {}).values())
    if any(len(x) != n for x in series):
        raise ValueError("trajectory series of different lengths")
    if result.get("path") is not None and len(result["path"]["beta"]) != rows:
        raise ValueError("one path point per row expected")


def _compute_chunk(query: SurfaceQuery, store: Store, chunk: list[int], progress: Progress | None) -> dict:
    if len(chunk) == 4:  # [lo, hi) grid points x [first, last) shards of the data
        return surface_part(query, store, chunk[:2], progress, range(chunk[2], chunk[3]))
    return surface_part(query, store, chunk, progress)


# The job kind "surface" (listed in compute/kinds/__init__.py): chunks of grid points (see `split_surface`).
SURFACE_KIND = ChunkKind("surface", SurfaceQuery, SurfaceResult, split_surface, _compute_chunk, assemble_surface,
                         check_surface, most_points=SURFACE_CHUNK_POINTS, data_split=split_surface_data,
                         data_cut=surface_data_cut, estimate=surface_work, resolve=resolve_surface)
