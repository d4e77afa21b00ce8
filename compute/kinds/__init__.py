"""The table of job kinds: every query kind the job layer can run, listed here and nowhere else.

Each kind is defined beside its code (a `ChunkKind`, see compute/chunks.py); to add one, define it
there and name it below.
"""

from __future__ import annotations

from ..chunks import ChunkKind
from .control import CONTROL_KIND
from ..hessian import HESSIAN_KIND
from .line import LINE_KIND
from .surface.kind import SURFACE_KIND
from ..training import TRAIN_KIND
from .trajectory import TRAJECTORY_KIND

KINDS: dict[str, ChunkKind] = {k.kind: k for k in (LINE_KIND, TRAJECTORY_KIND, SURFACE_KIND, CONTROL_KIND, TRAIN_KIND,
                                                    HESSIAN_KIND)}


def kind_of(query_kind: str) -> ChunkKind:
    if query_kind not in KINDS:
        raise TypeError(f"no job kind registered for {query_kind!r}")
    return KINDS[query_kind]
