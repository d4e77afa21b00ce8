"""The kinds of result: each is one module of this package (its query, result, computation, chunking,
assembly, work estimate and resolve, ending in a `ChunkKind`, compute/chunks.py), listed in KINDS
below and nowhere else. The job layer, the budget and every boundary know a kind only through this
table: to add one, write its module and add it to the tuple.
"""

from __future__ import annotations

from models.errors import BadInput

from ..budget import Work
from ..chunks import ChunkKind
from ..queries import Query
from .control import CONTROL_KIND
from .curve import CURVE_KIND
from .hessian import HESSIAN_KIND
from .line import LINE_KIND
from .surface.kind import SURFACE_KIND
from .train import TRAIN_KIND
from .trajectory import TRAJECTORY_KIND

KINDS: dict[str, ChunkKind] = {k.kind: k for k in (LINE_KIND, TRAJECTORY_KIND, SURFACE_KIND, CONTROL_KIND, TRAIN_KIND,
                                                    HESSIAN_KIND, CURVE_KIND)}


def kind_of(query_kind: str) -> ChunkKind:
    if query_kind not in KINDS:
        raise TypeError(f"no job kind registered for {query_kind!r}")
    return KINDS[query_kind]


def resolve(query: Query, store) -> Query:
    """The same query with every run named by its full id, or BadInput where its run rules it out
    (dropout samples of a model without dropout, a BatchNorm policy for one without BatchNorm): call
    before `key()` at a boundary (page, API, CLI alike)."""
    kind = kind_of(query.kind)
    return query if kind.resolve is None else kind.resolve(query, store)


def estimate(query: Query, store) -> Work | None:
    """The kind's estimate of `query`, or None: a kind not estimated, or a query whose run cannot be
    loaded (its job fails with that message, as it always did)."""
    kind = kind_of(query.kind)
    try:
        return None if kind.estimate is None else kind.estimate(query, store)
    except BadInput:
        return None
