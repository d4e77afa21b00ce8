"""The compiled loops of the line fast path (compute/linefast.py): the sign flips of a block of
examples (`flip_events`, `FlipEvents`) and the sweep over the grid (`sweep`).

`sweep` covers the nets of the paper (layer 2 is the last layer or is followed by one more): every
point in one call per block of examples, the updates, the quadratic, the ReLU and the last layer
fused in one pass per point, with the GIL released, so blocks run truly in parallel on threads.
Both are compiled with numba and cached on disk (cache=True): a process's first call loads them
(~0.3 s), the very first compiles them (a few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch


@dataclass
class FlipEvents:
    """Every sign flip of a block, ordered by the grid interval it falls in: flip f turns unit
    unit[f] of example example[f] on (v0, v1 = zc, dz there) or off (v0, v1 = -zc, -dz)."""

    examples: int
    width: int  # the first hidden layer's
    example: torch.Tensor  # (F,) int64
    unit: torch.Tensor  # (F,) int64
    v0: torch.Tensor  # (F,) the change of P0 = m zc
    v1: torch.Tensor  # (F,) the change of P1 = m dz
    counts: np.ndarray  # (P,) flips between points k-1 and k (none at k = 0)

    @property
    def starts(self) -> np.ndarray:
        """(P + 1,): the flips of point k are [starts[k], starts[k + 1])."""
        return np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def changes(self) -> list[torch.Tensor | None]:
        """Per grid point k, the change of [P0 | P1] since point k-1 as a sparse matrix (None:
        no change). Q += change @ w_big moves Q from point k-1 to point k."""
        # Two entries per flip (columns unit and H + unit), side by side so that a point's flips
        # are one slice. COO, not CSR: MKL's CSR product has a fixed cost per call (~0.2 ms) that
        # dominates here; not coalesced, which the CPU kernel does not need.
        index = torch.stack([self.example.repeat_interleave(2),
                             torch.stack([self.unit, self.unit + self.width], 1).view(-1)])
        values = torch.stack([self.v0, self.v1], 1).view(-1)
        counts = (2 * self.counts).tolist()
        shape = (self.examples, 2 * self.width)
        return [torch.sparse_coo_tensor(i, v, shape, is_coalesced=False, check_invariants=False) if count else None
                for i, v, count in zip(index.split(counts, dim=1), values.split(counts), counts)]


# reassoc/contract: sums may be reordered and fused (vectorised), as in any BLAS; NaN and inf keep
# their meaning (no 'fast' flag set that assumes them away), so a diverging line stays marked.
@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def sweep(q, wc_t, d_t, example, unit, v0, v1, starts, t, relu, w_rest, b_rest, d_rest, db_rest,
          out, out1, out2):  # pragma: no cover
    """The sparse updates and layers 2.. at every point of a block, compiled, in one pass per point.

    q (b, 3 width) = [Q0 | Q1 | Q2] at the first point, updated in place; wc_t, d_t (H, width):
    Wc^T, D^T of layer 2; the flips (example, unit, v0, v1) of point k are [starts[k],
    starts[k+1]); t (P,) the sorted positions. out (P, width, b) gets layer 2's output when
    w_rest is empty, else (P, out, b) the last layer's, from relu (if `relu`) of layer 2's:
    class-major. d_rest (out, width), db_rest (out,): the last layer's rates of change along the
    line. out1, out2 (shaped as out, or empty: not wanted) get the first and second derivatives in
    t: between flips y = Q0 + t Q1 + t^2 Q2 gives y' = Q1 + 2 t Q2, y'' = 2 Q2 (0 where relu is
    off), and the last layer W(t) h + b(t) gives D h + W h' + db and 2 D h' + W h''.
    """
    width = q.shape[1] // 3
    jet = out1.shape[0] > 0
    constants = np.empty(2, dtype=q.dtype)  # 0 and 2 of q's type: float literals would be float64
    constants[0], constants[1] = 0.0, 2.0
    zero, two = constants[0], constants[1]
    y = np.empty(width, dtype=q.dtype)
    y1, y2 = np.empty(width, dtype=q.dtype), np.empty(width, dtype=q.dtype)
    for k in range(t.shape[0]):
        for f in range(starts[k], starts[k + 1]):  # Q += (v0, v1) of the flip times row `unit` of w_big
            e, u, a, b = example[f], unit[f], v0[f], v1[f]
            for j in range(width):
                wc, d = wc_t[u, j], d_t[u, j]
                q[e, j] += a * wc
                q[e, width + j] += a * d + b * wc
                q[e, 2 * width + j] += b * d
        tk = t[k]
        for e in range(q.shape[0]):
            if w_rest.shape[0] == 0:
                for j in range(width):
                    out[k, j, e] = q[e, j] + tk * (q[e, width + j] + tk * q[e, 2 * width + j])
                    if jet:
                        out1[k, j, e] = q[e, width + j] + two * tk * q[e, 2 * width + j]
                        out2[k, j, e] = two * q[e, 2 * width + j]
                continue
            for j in range(width):
                v = q[e, j] + tk * (q[e, width + j] + tk * q[e, 2 * width + j])
                on = not relu or not v <= 0.0  # NaN stays NaN, as in torch.relu; relu'(0) = 0
                y[j] = v if on else zero
                if jet:
                    y1[j] = q[e, width + j] + two * tk * q[e, 2 * width + j] if on else zero
                    y2[j] = two * q[e, 2 * width + j] if on else zero
            for c in range(w_rest.shape[1]):
                acc = b_rest[k, c]
                if not jet:
                    for j in range(width):
                        acc += w_rest[k, c, j] * y[j]
                    out[k, c, e] = acc
                    continue
                acc1, acc2 = db_rest[c], zero
                for j in range(width):  # one pass over the weights for all three
                    w, d = w_rest[k, c, j], d_rest[c, j]
                    acc += w * y[j]
                    acc1 += d * y[j] + w * y1[j]
                    acc2 += two * d * y1[j] + w * y2[j]
                out[k, c, e], out1[k, c, e], out2[k, c, e] = acc, acc1, acc2


@numba.njit(nogil=True, cache=True)
def flip_events(z, t, relu):  # pragma: no cover
    """From z = [zc | dz] (b, 2H): [P0 | P1] (b, 2H) at the first grid point, and (example, unit, v0, v1, counts) of every
    pair whose state differs at the two ends, ordered by the grid point k from which the flipped
    state holds (counts[k] of them), then by example and unit; v0, v1 = +-(zc, dz), + for a pair
    that switches on. t (P,): the sorted positions; without `relu` every unit is always on.

    Both come from the same masks, so a pair's state in Q and in its flips agree bit for bit. k is
    clamped to 1..P-1: a crossing that rounding moves past a grid point (or off the grid) lies
    where the unit's value is at rounding level, so either mask gives the same result there.
    """
    n, h = z.shape[0], z.shape[1] // 2
    points = t.shape[0]
    left = np.empty_like(z)
    at = np.zeros((n, h), dtype=np.int32)  # k of the pair's flip, negative if it switches off; 0: none
    counts = np.zeros(points, dtype=np.int64)
    for e in range(n):
        for u in range(h):
            c, d = z[e, u], z[e, h + u]
            on_first = not relu or c + t[0] * d > 0
            left[e, u] = c if on_first else 0.0
            left[e, h + u] = d if on_first else 0.0
            if relu and on_first != (c + t[points - 1] * d > 0):
                k = _point_of(t, -c / d)
                at[e, u] = -k if on_first else k
                counts[k] += 1
    fill = np.zeros(points, dtype=np.int64)
    fill[1:] = np.cumsum(counts)[:-1]
    total = counts.sum()
    example, unit = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.int64)
    v0, v1 = np.empty(total, dtype=z.dtype), np.empty(total, dtype=z.dtype)
    for e in range(n):
        for u in range(h):
            k = at[e, u]
            if k != 0:
                sign = 1.0 if k > 0 else -1.0
                k = abs(k)
                f = fill[k]
                fill[k] += 1
                example[f], unit[f], v0[f], v1[f] = e, u, sign * z[e, u], sign * z[e, h + u]
    return left, example, unit, v0, v1, counts


@numba.njit(inline="always")
def _point_of(t, crossing):  # pragma: no cover
    """The first grid index at which a state that flips at `crossing` holds, in 1..P-1: the
    number of grid points <= crossing (a binary search; NaN counts as past the end), clamped."""
    lo, hi = 0, t.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if t[mid] <= crossing or crossing != crossing:
            lo = mid + 1
        else:
            hi = mid
    return min(max(lo, 1), t.shape[0] - 1)
