"""Exact fast path for lines through piecewise-linear MLPs (ReLU or linear activations).

Along a line theta(t) = theta_c + t * d, the first layer's pre-activation is linear in t,
z(t) = zc + t dz, so with ReLU each (example, unit) pair changes sign at most once on the whole
line, at t* = -zc/dz. With the mask m(t) of active units, h(t) = m(t) * (zc + t dz), and the
second affine map (W(t) = Wc + t D, b(t) = bc + t db) is a quadratic in t between sign flips:

    y(t) = Q0 + t Q1 + t^2 Q2,   Q0 = P0 Wc^T + bc,  Q1 = P0 D^T + P1 Wc^T + db,  Q2 = P1 D^T
    with P0 = m * zc, P1 = m * dz.

Q = [Q0 | Q1 | Q2] is built with one dense product at the first grid point, as [P0 | P1] w_big
with w_big = [[Wc^T, D^T, 0], [0, Wc^T, D^T]]; from one grid point to the next only the pairs
whose sign flipped in between change [P0 | P1], so Q is updated with one sparse product (two
non-zeros per flip) instead of a dense product per point. Layers after the second are evaluated
per point as usual. On an MLP 784-1200-1200-10 the second layer is most of the work, so this
removes most of the FLOPs of a line (benchmarks/line.py: ~3.8x over loss-landscapes and ~2.8x
over the first-layer reuse alone on a 2-core CPU).

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
stays in a core's cache; the caller runs them in parallel, one per thread (see `blocks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.mlp import MLP

from .params import ParamLayout

ENABLED = True  # False: every line takes the general path (benchmarks compare the two)
MIN_POINTS = 6  # below this the dense start (6 products' worth) costs more than it saves
COLLINEAR_TOL = 1e-10  # relative; coefficient rows off one line by more than this are no line
# A block's working set (Q, 3 x width x rows, and a layer-2 output) stays in a core's L2 cache:
# the per-point passes over Q run ~2-3x slower from L3. Not below MIN_BLOCK_ROWS rows, where the
# fixed costs of the per-point operations take over.
BLOCK_BYTES = 1 << 20
MIN_BLOCK_ROWS = 128
REST_CACHE_ELEMENTS = 1 << 22  # layers 3.. at every point are built once when at most this big
# Cost of one multiply-add in the sparse update relative to one in a dense product, and the
# fixed cost of one sparse update in multiply-adds. Measured with torch 2.13 on a 2-core AVX-512
# CPU, one thread: the COO product costs ~35 ns per non-zero (one axpy of a Q row each, ~10
# GMAC/s at width 100), a dense product runs ~50 GMAC/s; a call costs a few us with its set-up.
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

    def at(self, t: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(weight, bias) at position t."""
        return self.w + t * self.dw, (self.b + t * self.db if self.b is not None else None)

    def apply(self, h: torch.Tensor, t: float) -> torch.Tensor:
        return F.linear(h, *self.at(t))


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

    Build it with `LinePath.plan` (None where the path does not apply), split the examples with
    `blocks` and call `outputs` once per block. A block is meant to run on one thread: it is
    hundreds of mid-sized operations, and splitting each across threads would cost a barrier
    apiece, so the caller runs blocks in parallel instead.
    """

    def __init__(self, model: MLP, ends: tuple[dict, dict], t: np.ndarray):
        self.relu = model.activation == "relu"
        self.first, self.second, *self.rest = (_Affine.between(ends, f"layers.{i}") for i in range(len(model.layers)))
        # [P0 | P1] (b, 2H) @ w_big = [Q0 | Q1 | Q2] (b, 3 width): the quadratic's coefficients
        wc_t, d_t = self.second.w.T, self.second.dw.T
        zero = torch.zeros_like(wc_t)
        self.w_big = torch.cat([torch.cat([wc_t, d_t, zero], 1), torch.cat([zero, wc_t, d_t], 1)]).contiguous()
        order = np.argsort(t, kind="stable")  # points in increasing t
        self.unsort = None if (order == np.arange(len(t))).all() else torch.as_tensor(np.argsort(order))
        self.t_sorted = [float(v) for v in t[order]]
        self.uniform = _uniform_step(t[order])
        # Layers 3.. at every point, (weight^T, bias) for addmm: built once when small, since
        # every block uses them.
        size = len(self.t_sorted) * sum(layer.w.numel() for layer in self.rest)
        self.rest_cached = [self._rest_at(k) for k in range(len(t))] if size <= REST_CACHE_ELEMENTS else None

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

    def blocks(self, n: int, threads: int) -> list[slice]:
        """Blocks of examples: at least one per thread, and small enough that a block's Q stays
        in a core's cache."""
        width = self.second.w.shape[0]
        rows = max(MIN_BLOCK_ROWS, min(BLOCK_BYTES // (4 * width * self.w_big.element_size()), -(-n // threads)))
        return [slice(s, min(n, s + rows)) for s in range(0, n, rows)]

    # ------------------------------------------------------------------ evaluation
    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """(P, b, out): the network's output at every point for a block of examples, in the
        caller's point order."""
        x = x.flatten(1)
        t = self.t_sorted
        n, o = len(x), self.second.w.shape[0]
        zc, dz = F.linear(x, self.first.w, self.first.b), F.linear(x, self.first.dw, self.first.db)
        if self.relu:  # a pair's sign differs at the two ends iff it flips somewhere in between
            on_first, on_last = torch.add(zc, dz, alpha=t[0]) > 0, torch.add(zc, dz, alpha=t[-1]) > 0
        else:  # linear: every unit is always "on", nothing flips
            on_first = on_last = torch.ones_like(zc, dtype=torch.bool)
        flips = on_first != on_last
        n_flips = int(flips.sum())
        last = self.rest[-1] if self.rest else self.second
        out = torch.empty(len(t), n, last.w.shape[0], dtype=zc.dtype)
        # Layer 2's pre-activation at one point; for a one-hidden-layer net, the output itself.
        y = torch.empty(n, o, dtype=zc.dtype) if self.rest else None
        if not self._sparse_pays(n, zc.shape[1], o, n_flips):
            for k, ti in enumerate(t):
                w, b = self.second.at(ti)
                y_k = out[k] if y is None else y
                torch.addmm(b if b is not None else torch.zeros(o, dtype=w.dtype), self._act(zc + ti * dz), w.T,
                            out=y_k)
                self._rest_into(y_k, k, out[k])
            return out if self.unsort is None else out[self.unsort]
        q = self._start(zc, dz, on_first)
        q0, q1, q2 = q[:, :o], q[:, o:2 * o], q[:, 2 * o:]
        changes = self._events(zc, dz, flips, on_last).changes() if n_flips else [None] * len(t)
        # A few operations per point, each on data that stays in cache: blocks run on parallel
        # threads, which take turns at the GIL between operations.
        for k, (ti, change) in enumerate(zip(t, changes)):
            if change is not None:
                torch.addmm(q, change, self.w_big, out=q)
            y_k = out[k] if y is None else y
            torch.add(q1, q2, alpha=ti, out=y_k)  # y = Q0 + t (Q1 + t Q2)
            torch.add(q0, y_k, alpha=ti, out=y_k)
            self._rest_into(y_k, k, out[k])
        return out if self.unsort is None else out[self.unsort]

    def _sparse_pays(self, n: int, h: int, o: int, n_flips: int) -> bool:
        """Compare the multiply-adds of the two ways to get layer 2 at every point (see constants)."""
        k = len(self.t_sorted)
        dense = k * n * h * o
        sparse = 6 * n * h * o + SPARSE_MAC_COST * 6 * n_flips * o + (k - 1) * SPARSE_CALL_COST
        return sparse < dense

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        """The activation, in place: z is always a fresh intermediate or this block's buffer."""
        return z.relu_() if self.relu else z

    def _rest_at(self, k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Layers 3.. at the k-th point (sorted): (weight^T, bias) each, for addmm."""
        layers = []
        for layer in self.rest:
            w, b = layer.at(self.t_sorted[k])
            layers.append((w.T, b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype)))
        return layers

    def _rest_into(self, y: torch.Tensor, k: int, out: torch.Tensor) -> None:
        """Layers 3.. at the k-th point (sorted), from layer 2's pre-activation y, into out."""
        layers = self.rest_cached[k] if self.rest_cached is not None else self._rest_at(k)
        h = y
        for i, (w_t, b) in enumerate(layers):
            if i == len(layers) - 1:
                torch.addmm(b, self._act(h), w_t, out=out)
            else:
                h = torch.addmm(b, self._act(h), w_t)

    def _start(self, zc: torch.Tensor, dz: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
        """Q = [Q0 | Q1 | Q2] (b, 3 width) for the masks at the first point, biases in."""
        m = on.to(zc.dtype)
        q = torch.cat([zc * m, dz * m], 1) @ self.w_big
        if self.second.b is not None:
            o = self.second.w.shape[0]
            q[:, :o] += self.second.b
            q[:, o:2 * o] += self.second.db
        return q

    def _events(self, zc: torch.Tensor, dz: torch.Tensor, flips: torch.Tensor,
                on_last: torch.Tensor) -> "_Events":
        """Every sign flip, grouped by the grid interval it falls in."""
        n, h, k = zc.shape[0], zc.shape[1], len(self.t_sorted)
        flat = flips.view(-1).nonzero().squeeze(1)  # row-major: by example, then unit
        zf, df = zc.view(-1)[flat], dz.view(-1)[flat]
        crossing = -zf / df
        # The first grid index at which the flipped state holds. Clamped, and for an even grid
        # found by arithmetic: a crossing that rounding moves past a grid point (or off the grid)
        # lies where the unit's value is at rounding level, so either mask gives the same result.
        if self.uniform is not None:
            t0, step = self.uniform
            at = crossing.sub_(t0).div_(step).floor_().clamp_(0, k - 2).add_(1)
        else:
            at = torch.searchsorted(torch.as_tensor(self.t_sorted, dtype=zc.dtype), crossing,
                                    right=True).clamp_(1, k - 1)
        # numpy's stable sort of 16-bit keys is a radix sort: ~10x faster than torch.sort here
        at = at.numpy().astype(np.int16 if k < 2 ** 15 else np.int32)
        perm = torch.from_numpy(np.argsort(at, kind="stable"))
        flat, zf, df = flat[perm], zf[perm], df[perm]
        sign = torch.where(on_last.view(-1)[flat], 1.0, -1.0).to(zc.dtype)  # +1: switches on
        example, unit = flat // h, flat % h
        # Each flip changes P0 = m zc (column `unit`) and P1 = m dz (column H + unit) of the left
        # factor [P0 | P1]: two entries per flip, side by side so that an interval is one slice.
        index = torch.stack([example.repeat_interleave(2), torch.stack([unit, unit + h], 1).view(-1)])
        values = torch.stack([sign * zf, sign * df], 1).view(-1)
        counts = 2 * np.bincount(at, minlength=k)
        return _Events((n, 2 * h), index, values, counts.tolist())


def _uniform_step(t: np.ndarray) -> tuple[float, float] | None:
    """(t[0], step) when the sorted grid t is evenly spaced (to rounding), else None."""
    if len(t) < 2:
        return None
    step = (t[-1] - t[0]) / (len(t) - 1)
    if step <= 0 or np.abs(np.diff(t) - step).max() > 1e-9 * max(1.0, abs(step)):
        return None
    return float(t[0]), float(step)


@dataclass
class _Events:
    shape: tuple[int, int]  # the left factor [P0 | P1]: (examples in the block, 2 x first width)
    index: torch.Tensor  # (2, 2F): the left factor's row and column of each change, by interval
    values: torch.Tensor  # (2F,): the change, sign * zc (columns < H) and sign * dz (columns >= H)
    counts: list[int]  # changes per grid point k: those between points k-1 and k (none at k = 0)

    def changes(self) -> list[torch.Tensor | None]:
        """Per grid point k, the change of [P0 | P1] since point k-1 as a sparse matrix (None:
        no change). Q += change @ w_big moves Q from point k-1 to point k."""
        # COO, not CSR: MKL's CSR product has a fixed cost per call (~0.2 ms) that dominates here.
        # Not coalesced (a flip's two columns are interleaved); the CPU kernel does not need it.
        return [torch.sparse_coo_tensor(i, v, self.shape, is_coalesced=False, check_invariants=False)
                if count else None
                for i, v, count in zip(self.index.split(self.counts, dim=1), self.values.split(self.counts),
                                       self.counts)]
