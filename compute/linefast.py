"""Exact fast path for lines through piecewise-linear MLPs (ReLU or linear activations).

Along a line theta(t) = theta_c + t * d, the first layer's pre-activation is linear in t,
z(t) = zc + t dz, so with ReLU each (example, unit) pair changes sign at most once on the whole
line, at t* = -zc/dz. With the mask m(t) of active units, h(t) = m(t) * (zc + t dz), and the
second affine map (W(t) = Wc + t D, b(t) = bc + t db) is a quadratic in t between sign flips:

    y(t) = Q0 + t Q1 + t^2 Q2,   Q0 = P0 Wc^T + bc,  Q1 = P0 D^T + P1 Wc^T + db,  Q2 = P1 D^T
    with P0 = m * zc, P1 = m * dz.

Q is built with one dense product at the first grid point; from one grid point to the next only
the pairs whose sign flipped in between change P, so Q is updated with a sparse product (under
one percent of the pairs per interval on a 50-point line) instead of a dense product per point.
Layers after the second are evaluated per point as usual. On an MLP 784-1200-1200-10 the second
layer is most of the work, so this removes most of the FLOPs of a line (benchmarks/line.py:
about 4x over loss-landscapes and 3x over the first-layer reuse alone on a 2-core CPU).

Exactness: this is algebra, not an approximation. Every pair enters Q at most twice (once in the
dense start, once when it flips), so rounding is bounded like that of one dense product. The
expansion is centred on the middle of the segment (|t| <= 1/2), which keeps t^2 Q2 small; where a
sign flip falls within rounding of a grid point, the unit's value there is itself at rounding
level, so either mask gives the same result. Measured agreement with a plain per-point forward
pass is ~1e-7 on the cost in fp32.

The path is used only where it is exact and pays: an `MLP` in eval mode with activation "relu"
or "linear" and at least two layers, fp32 or fp64 on a CPU (the cost model below was measured
there; a GPU keeps the general batched path), points whose coefficient rows lie on one straight
line (any basis), and enough points. Per block of examples it chooses between the sparse updates
and a dense per-point second layer from the number of sign flips. Blocks are sized so that Q
stays in cache and run one per thread, each single-threaded (see `outputs`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.mlp import MLP

from .params import ParamLayout

ENABLED = True  # False: every line takes the general path (benchmarks compare the two)
MIN_POINTS = 6  # below this the dense start (4 products) costs more than it saves
COLLINEAR_TOL = 1e-10  # relative; coefficient rows off one line by more than this are no line
SUBCHUNK_BYTES = 8 << 20  # Q of one block of examples (3 x width x rows) stays in cache
# Cost of one multiply-add in the sparse update relative to one in a dense product, and the
# fixed cost of one sparse update in multiply-adds. Measured with torch 2.13 on a 2-core AVX-512
# CPU: the COO product runs ~5 GMAC/s on one thread, a dense product ~60 GMAC/s (ratio 12;
# 16 leaves a margin), and a COO call costs ~20 us.
SPARSE_MAC_COST = 16.0
SPARSE_CALL_COST = 2e6


@dataclass
class _Affine:
    """One linear layer along the line: W(t) = w + t dw, b(t) = b + t db (t centred)."""

    w: torch.Tensor
    dw: torch.Tensor
    b: torch.Tensor | None
    db: torch.Tensor | None

    @classmethod
    def between(cls, ends: tuple[dict, dict], name: str) -> "_Affine":
        """Layer `name` on the segment from ends[0] (t = -1/2) to ends[1] (t = 1/2)."""
        lo, hi = ends
        w0, w1 = lo[f"{name}.weight"], hi[f"{name}.weight"]
        b0, b1 = lo.get(f"{name}.bias"), hi.get(f"{name}.bias")
        if b0 is None:
            return cls(0.5 * (w0 + w1), w1 - w0, None, None)
        return cls(0.5 * (w0 + w1), w1 - w0, 0.5 * (b0 + b1), b1 - b0)

    def apply(self, h: torch.Tensor, t: float) -> torch.Tensor:
        return F.linear(h, self.w + t * self.dw, self.b + t * self.db if self.b is not None else None)


def line_positions(coeffs: torch.Tensor) -> tuple[int, int, np.ndarray] | None:
    """If all coefficient rows lie on one straight line: (lo, hi, u) with
    coeffs[p] = coeffs[lo] + u[p] (coeffs[hi] - coeffs[lo]) and u in [0, 1]; else None."""
    c = np.asarray(coeffs, dtype=np.float64)
    if not np.isfinite(c).all():
        return None
    d = c - c[0]
    norms = np.linalg.norm(d, axis=1)
    far = int(np.argmax(norms))
    if norms[far] == 0.0:
        return None  # all points are the same point
    v = d[far]
    s = d @ v / (v @ v)
    if np.abs(d - s[:, None] * v).max() > COLLINEAR_TOL * max(1.0, float(np.abs(c).max())):
        return None
    lo, hi = int(np.argmin(s)), int(np.argmax(s))
    return lo, hi, (s - s[lo]) / (s[hi] - s[lo])


class LinePath:
    """Network outputs at every point of a line through an MLP, computed with sign-flip updates.

    Build it with `LinePath.plan` (None where the path does not apply) and call `outputs` once
    per chunk of examples.
    """

    def __init__(self, model: MLP, ends: tuple[dict, dict], t: np.ndarray):
        self.relu = model.activation == "relu"
        # layer 1 at the two ends of the segment; in between its output is their affine combination
        self.first_ends = [(p["layers.0.weight"], p.get("layers.0.bias")) for p in ends]
        self.second, *self.rest = (_Affine.between(ends, f"layers.{i}") for i in range(1, len(model.layers)))
        self.wt = torch.cat([self.second.w.T, self.second.dw.T], dim=1).contiguous()  # (H, 2 width)
        order = np.argsort(t, kind="stable")  # points in increasing t
        self.unsort = torch.as_tensor(np.argsort(order))  # sorted position of each caller's point
        self.t_sorted = [float(v) for v in t[order]]

    @classmethod
    def plan(cls, model: torch.nn.Module, layout: ParamLayout, basis: torch.Tensor,
             coeffs: torch.Tensor) -> "LinePath | None":
        """The fast path for theta_p = coeffs[p] @ basis, or None where it is not exact or pays not."""
        if not (ENABLED and type(model) is MLP and model.activation in ("relu", "linear") and not model.training
                and len(model.layers) >= 2 and basis.dtype in (torch.float32, torch.float64)
                and basis.device.type == "cpu" and len(coeffs) >= MIN_POINTS):
            return None
        line = line_positions(coeffs)
        if line is None:
            return None
        lo, hi, u = line
        c = torch.as_tensor(np.asarray(coeffs, dtype=np.float64)).to(basis.dtype)
        # The segment between the extreme points, centred: theta(t) = (lo + hi)/2 + t (hi - lo).
        ends = layout.unflatten(c[lo] @ basis), layout.unflatten(c[hi] @ basis)
        return cls(model, ends, u - 0.5)

    def examples_within(self, budget: int) -> int:
        """How many examples' outputs at every point fit in `budget` bytes (with the caller's
        per-example costs over them, counted as two more copies)."""
        last = self.rest[-1] if self.rest else self.second
        per_example = 3 * len(self.t_sorted) * last.w.shape[0] * last.w.element_size()
        return max(1, budget // per_example)

    # ------------------------------------------------------------------ evaluation
    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(P, B, out): the network's output at every point, in the caller's point order."""
        x = x.flatten(1)
        threads = torch.get_num_threads()
        width = self.second.w.shape[0]
        rows = max(64, min(SUBCHUNK_BYTES // (3 * width * x.element_size()), -(-len(x) // threads)))
        blocks = [x[s:s + rows] for s in range(0, len(x), rows)]
        if threads > 1 and len(blocks) > 1:
            # One block per thread, each on one thread: a block is hundreds of mid-sized ops, and
            # splitting every op across threads costs a barrier each (ruinous on a busy machine),
            # while the sparse product runs on one thread anyway.
            try:
                with ThreadPoolExecutor(threads) as pool:
                    outs = list(pool.map(self._block_on_one_thread, blocks))
            finally:
                torch.set_num_threads(threads)  # the workers lowered the default for new threads
        else:
            outs = [self._block(b) for b in blocks]
        return torch.cat(outs, dim=1)[self.unsort]

    def _block_on_one_thread(self, x: torch.Tensor) -> torch.Tensor:
        torch.set_num_threads(1)  # this worker thread's own OpenMP/MKL setting
        with torch.no_grad():  # grad mode is per thread
            return self._block(x)

    def _block(self, x: torch.Tensor) -> torch.Tensor:
        """(P, b, out) for a block of examples, points in increasing t."""
        second = self.second
        z_lo, z_hi = (F.linear(x, w, b) for w, b in self.first_ends)
        zc, dz = 0.5 * (z_lo + z_hi), z_hi - z_lo
        t = self.t_sorted
        if self.relu:  # a pair's sign differs at the two ends iff it flips somewhere in between
            on_first, on_last = zc + t[0] * dz > 0, zc + t[-1] * dz > 0
        else:  # linear: every unit is always "on", nothing flips
            on_first = on_last = torch.ones_like(zc, dtype=torch.bool)
        flips = on_first != on_last
        n_flips = int(flips.sum())
        if not self._sparse_pays(len(x), zc.shape[1], second.w.shape[0], n_flips):
            return torch.stack([self._rest(second.apply(self._act(zc + ti * dz), ti), ti) for ti in t])
        q = self._start(zc, dz, on_first, self.wt, second)
        events = self._events(zc, dz, flips, on_last) if n_flips else None
        outs = []
        for k, ti in enumerate(t):
            if events is not None and k > 0:
                self._flip(q, self.wt, events, k)
            outs.append(self._rest(self._combine(q, ti), ti))
        return torch.stack(outs)

    def _sparse_pays(self, n: int, h: int, o: int, n_flips: int) -> bool:
        """Compare the multiply-adds of the two ways to get layer 2 at every point (see constants)."""
        k = len(self.t_sorted)
        dense = k * n * h * o
        sparse = 4 * n * h * o + SPARSE_MAC_COST * 4 * n_flips * o + (k - 1) * SPARSE_CALL_COST
        return sparse < dense

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        """The activation, in place: z is always a fresh intermediate."""
        return z.relu_() if self.relu else z

    def _rest(self, y: torch.Tensor, t: float) -> torch.Tensor:
        """Layers 3.. at position t, from the second layer's pre-activation y."""
        for layer in self.rest:
            y = layer.apply(self._act(y), t)
        return y

    @staticmethod
    def _start(zc: torch.Tensor, dz: torch.Tensor, on: torch.Tensor, wt: torch.Tensor,
               second: _Affine) -> torch.Tensor:
        """Q = [Q0 | Q1 | Q2] (n, 3 width) for the masks at the first point, biases included."""
        n, o = len(zc), second.w.shape[0]
        m = on.to(zc.dtype)
        r = torch.cat([zc * m, dz * m]) @ wt  # (2n, 2 width): [P0; P1] [Wc^T | D^T]
        q = torch.empty(n, 3 * o, dtype=zc.dtype)
        q[:, :o] = r[:n, :o]
        torch.add(r[:n, o:], r[n:, :o], out=q[:, o:2 * o])
        q[:, 2 * o:] = r[n:, o:]
        if second.b is not None:
            q[:, :o] += second.b
            q[:, o:2 * o] += second.db
        return q

    def _events(self, zc: torch.Tensor, dz: torch.Tensor, flips: torch.Tensor,
                on_last: torch.Tensor) -> "_Events":
        """Every sign flip, grouped by the grid interval it falls in (by example inside one)."""
        n, h, k = zc.shape[0], zc.shape[1], len(self.t_sorted)
        flat = flips.view(-1).nonzero().squeeze(1)  # row-major: by example, then unit
        zf, df = zc.view(-1)[flat], dz.view(-1)[flat]
        t = torch.as_tensor(self.t_sorted, dtype=zc.dtype)
        # First grid index at which the flipped state holds. Clamped: a crossing that rounding puts
        # outside the grid lies where the unit's value is at rounding level anyway.
        at = torch.searchsorted(t, (-zf / df).contiguous(), right=True).clamp_(1, k - 1)
        # a stable sort keeps the order by example inside an interval; small keys sort faster
        at, perm = torch.sort(at.to(torch.int16 if k < 2 ** 15 else torch.int32), stable=True)
        flat, zf, df = flat[perm], zf[perm], df[perm]
        sign = torch.where(on_last.view(-1)[flat], 1.0, -1.0).to(zc.dtype)  # +1: switches on
        index = torch.stack([flat // h, flat % h])  # (example, unit): a coalesced COO order
        bounds = torch.searchsorted(at, torch.arange(k + 1, dtype=at.dtype)).tolist()
        return _Events((n, h), index, sign * zf, sign * df, bounds)

    @staticmethod
    def _flip(q: torch.Tensor, wt: torch.Tensor, ev: "_Events", k: int) -> None:
        """Q += the changes of the pairs that flipped between points k-1 and k (in place)."""
        lo, hi = ev.bounds[k], ev.bounds[k + 1]
        if lo == hi:
            return
        o = wt.shape[1] // 2
        index = ev.index[:, lo:hi]
        # COO, not CSR: MKL's CSR product has a fixed cost per call (~0.2 ms) that dominates here.
        e0 = torch.sparse_coo_tensor(index, ev.v0[lo:hi], ev.shape, is_coalesced=True,
                                     check_invariants=False)
        e1 = torch.sparse_coo_tensor(index, ev.v1[lo:hi], ev.shape, is_coalesced=True,
                                     check_invariants=False)
        # dP0 [Wc^T | D^T] adds to (Q0, Q1); dP1 [Wc^T | D^T] adds to (Q1, Q2).
        torch.addmm(q[:, :2 * o], e0, wt, out=q[:, :2 * o])
        torch.addmm(q[:, o:], e1, wt, out=q[:, o:])

    @staticmethod
    def _combine(q: torch.Tensor, t: float) -> torch.Tensor:
        """y = Q0 + t (Q1 + t Q2)."""
        o = q.shape[1] // 3
        y = torch.add(q[:, o:2 * o], q[:, 2 * o:], alpha=t)
        return torch.add(q[:, :o], y, alpha=t, out=y)


@dataclass
class _Events:
    shape: tuple[int, int]  # (examples in the block, first hidden width)
    index: torch.Tensor  # (2, F) example and unit of every flip, grouped by interval
    v0: torch.Tensor  # (F,) change of P0 = m * zc at each flip
    v1: torch.Tensor  # (F,) change of P1 = m * dz
    bounds: list[int]  # flips of interval k: [bounds[k], bounds[k+1])
