"""Exact fast path for lines through piecewise-linear MLPs (ReLU or linear activations).

Along a line theta(t) = theta_c + t * d, the first layer's pre-activation is linear in t,
z(t) = zc + t dz, so with ReLU each (example, unit) pair changes sign at most once on the whole
line, at t* = -zc/dz. With the mask m(t) of active units, h(t) = m(t) * (zc + t dz), and the
second affine map (W(t) = Wc + t D, b(t) = bc + t db) is a quadratic in t between sign flips:

    y(t) = Q0 + t Q1 + t^2 Q2,   Q0 = P0 Wc^T + bc,  Q1 = P0 D^T + P1 Wc^T + db,  Q2 = P1 D^T
    with P0 = m * zc, P1 = m * dz.

Q = [Q0 | Q1 | Q2] is built with one dense product at the first grid point, as [P0 | P1] w_big
with w_big = [[Wc^T, D^T, 0], [0, Wc^T, D^T]]; from one grid point to the next only the pairs
whose sign flipped in between change [P0 | P1], so Q gets a sparse update (a row of w_big per
flip) instead of a dense product per point. Layers after the second are evaluated per point.

Two implementations of that sweep over the grid. For the nets of the paper (layer 2 is the last
layer or is followed by one more), `sweep`, compiled with numba (compute/linesweep.py): every
point in one call per block of examples, the updates, the quadratic, the ReLU and the last layer
fused in one pass per point, with the GIL released, so blocks run truly in parallel on threads.
Deeper nets take a torch loop: a COO product per point for the updates, then a few torch
operations. The flips themselves are found by `flip_events` (compiled too). benchmarks/line.py,
2-core CPU: a 50-point line of an MLP 784-1200-1200-10 ~5.7x faster than loss-landscapes, of the
`small` relu-mnist (784-100-100-10) ~5.5x.

Exactness: this is algebra, not an approximation. Every pair enters Q at most twice (once in the
dense start, once when it flips), so rounding is bounded like that of one dense product. The
expansion is centred on the middle of the segment (|t| <= 1/2), which keeps t^2 Q2 small; where a
sign flip falls within rounding of a grid point, the unit's value there is itself at rounding
level, so either mask gives the same result. Rounding is relative to the parameters' scale along
the whole segment (a point near a tiny end of a huge segment is not better than that). The
compiled loops may reorder sums, as a BLAS does, but never assume values are finite: NaN and inf
come out where a forward pass gives them, and a block whose first layer is not finite takes the
plain per-point path. Measured agreement with a plain per-point forward pass is ~1e-7 on the
cost in fp32.

Derivatives along the line (`outputs(x, derivatives=True)`) are the same algebra: between sign
flips every layer's output is a polynomial in t, so layer 2's y' = Q1 + 2t Q2 and y'' = 2 Q2 come
from Q itself, an affine layer W(t) h + b(t) maps (h, h', h'') to (W h + b, D h + W h' + db,
2 D h' + W h''), and a ReLU multiplies all three by its mask (relu'(0) = 0, as torch takes it).
The sweep computes them beside the outputs, in the same pass; the evaluator takes them through
the objective (compute/derivatives.py), so a line's cost and its exact dJ/dalpha, d2J/dalpha2
come out of one pass over the data. The last layer's work per point is then five products
instead of one; benchmarks/line.py measures the whole on a 2-core CPU: 1.6x the cost alone on
the small relu-mnist with 1,000 examples and 20 points (--quick, idle), 2.4x with 5,000 and 50;
the objective's jvps (in the calling thread: forward AD's levels are global) are the largest part
of the difference.

The path is used only where it is exact and pays: an `MLP` in eval mode with activation "relu"
or "linear" and at least two layers, fp32 or fp64 on a CPU (the cost model below was measured
there; a GPU keeps the general batched path), points whose coefficient rows lie on one straight
line (any basis), and enough points. Per block of examples it chooses between the sparse updates
and a dense per-point second layer from the number of sign flips. Blocks are sized so that Q
stays in a core's cache; the caller runs them in parallel, one per thread (see `blocks`); the
blocks and each block's arithmetic do not depend on the number of threads, so neither do the bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.mlp import MLP
from models.objectives import Objective

from .derivatives import objective_derivatives
from .linesweep import FlipEvents, flip_events, sweep
from .params import Basis, ParamLayout, stacked
from .scoring import add_segments, chunk_sums, outputs_costs, targets_for
from .sizing import map_single_threaded

ENABLED = True  # False: every line takes the general path (benchmarks compare the two)
MIN_POINTS = 6  # below this the dense start (6 products' worth) costs more than it saves
COLLINEAR_TOL = 1e-10  # relative; coefficient rows off one line by more than this are no line
LINE_DIRECTION = np.array([-1.0, 1.0])  # d(1 - alpha, alpha)/dalpha: a line's coefficients move this way
# A block's working set (Q, 3 x width x rows, and a layer-2 output) stays in a core's L2 cache:
# the per-point passes over Q run ~2-3x slower from L3. Not below MIN_BLOCK_ROWS rows, where the
# fixed costs of the per-point operations take over.
BLOCK_BYTES = 2 << 20
MIN_BLOCK_ROWS = 128
REST_CACHE_ELEMENTS = 1 << 22  # layers 3.. at every point are built once when at most this big
# For the torch loop: cost of one multiply-add in the sparse update relative to one in a dense
# product, and the fixed cost of one sparse update in multiply-adds. Measured with torch 2.13 on a
# 2-core AVX-512 CPU, one thread: the COO product costs ~35 ns per non-zero (one axpy of a Q row
# each, ~10 GMAC/s at width 100), a dense product runs ~50 GMAC/s; a call costs a few us with its
# set-up. The compiled sweep updates rows at about the dense rate, with no cost per call.
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

    def addmm_at(self, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight^T, bias) at position t, for addmm: zeros for no bias."""
        w, b = self.at(t)
        return w.T, b if b is not None else torch.zeros(w.shape[0], dtype=w.dtype)

    def rates(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(dweight^T, dbias): the rates of change along the line, for addmm; zeros for no bias."""
        return self.dw.T, self.db if self.db is not None else torch.zeros(self.w.shape[0], dtype=self.w.dtype)


def piecewise_linear_mlp(model: torch.nn.Module) -> tuple[str, list[str]] | None:
    """(activation, the affine layers' parameter prefixes) of an MLP this path is exact for: ours
    with ReLU or linear activations, or a user's nn.Sequential of [Flatten,] Linear, ReLU, Linear,
    ... , Linear (eval-mode Dropout between them is the identity); None for anything else."""
    if type(model) is MLP:
        if model.activation in ("relu", "linear") and len(model.layers) >= 2:
            return model.activation, [f"layers.{i}" for i in range(len(model.layers))]
        return None
    if type(model) is not torch.nn.Sequential:
        return None
    kept = [(name, m) for name, m in model.named_children() if type(m) is not torch.nn.Dropout]
    if kept and type(kept[0][1]) is torch.nn.Flatten and kept[0][1].start_dim == 1 and kept[0][1].end_dim == -1:
        kept = kept[1:]
    linear = [name for name, m in kept[0::2] if type(m) is torch.nn.Linear]
    relus = [m for _, m in kept[1::2] if type(m) is torch.nn.ReLU]
    if len(linear) >= 2 and len(linear) == len(kept[0::2]) and len(relus) == len(kept[1::2]) == len(linear) - 1:
        return "relu", linear
    return None


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
    `blocks` and call `outputs` once per block. A block runs on one thread (its compiled parts
    without the GIL); the caller runs blocks in parallel.
    """

    def __init__(self, activation: str, layers: list[str], ends: tuple[dict, dict], t: np.ndarray,
                 span: np.ndarray | None = None):
        """t: the points' positions on the segment between ends (-1/2 and 1/2); span (K,): that
        segment in coefficient space (for `rate`)."""
        self.relu = activation == "relu"
        self.span = span
        first, self.second, *self.rest = (_Affine.between(ends, prefix) for prefix in layers)
        self.first_stacked = (torch.cat([first.w, first.dw]),
                              torch.cat([first.b, first.db]) if first.b is not None else None)
        # [P0 | P1] (b, 2H) @ w_big = [Q0 | Q1 | Q2] (b, 3 width): the quadratic's coefficients
        wc_t, d_t = self.second.w.T, self.second.dw.T
        zero = torch.zeros_like(wc_t)
        self.w_big = torch.cat([torch.cat([wc_t, d_t, zero], 1), torch.cat([zero, wc_t, d_t], 1)]).contiguous()
        order = np.argsort(t, kind="stable")  # points in increasing t
        self.unsort = None if (order == np.arange(len(t))).all() else torch.as_tensor(np.argsort(order))
        self.t_sorted = [float(v) for v in t[order]]
        # Layers 3.. at every point, (weight^T, bias) for addmm: built once when small, since
        # every block uses them.
        size = len(self.t_sorted) * sum(layer.w.numel() for layer in self.rest)
        self.rest_cached = [self._rest_at(k) for k in range(len(t))] if size <= REST_CACHE_ELEMENTS else None
        # and their rates of change along the line, (dweight^T, dbias): the same at every point
        self.rest_rates = [layer.rates() for layer in self.rest]
        # For the compiled functions: the grid, layer 2's Wc^T and D^T, and (`sweep_last`) the layer
        # after it at every point, (weight (P, out, width), bias (P, out)), and its rates of change
        # (`sweep_rates`: D (out, width), db (out,)), empty arrays for none. `sweep` covers nets
        # whose layer 2 is the last or is followed by one more (sweep_last is None otherwise):
        # deeper nets take the torch loop.
        dtype = self.w_big.numpy().dtype
        self.t_array = np.asarray(self.t_sorted, dtype=dtype)
        self.second_t = self.second.w.T.contiguous().numpy(), self.second.dw.T.contiguous().numpy()
        self.sweep_last = None
        self.sweep_rates = np.empty((0, 0), dtype=dtype), np.empty(0, dtype=dtype)
        if len(self.rest) == 0:
            self.sweep_last = np.empty((0, 0, 0), dtype=dtype), np.empty((0, 0), dtype=dtype)
        elif len(self.rest) == 1 and self.rest_cached is not None:
            self.sweep_last = (np.ascontiguousarray(np.stack([w_t.T.numpy() for (w_t, _), in self.rest_cached])),
                               np.ascontiguousarray(np.stack([b.numpy() for (_, b), in self.rest_cached])))
            (dw_t, db), = self.rest_rates
            self.sweep_rates = np.ascontiguousarray(dw_t.T.numpy()), np.ascontiguousarray(db.numpy())

    @classmethod
    def plan(cls, model: torch.nn.Module, layout: ParamLayout, basis: Basis,
             coeffs: torch.Tensor) -> "LinePath | None":
        """The fast path for theta_p = coeffs[p] @ basis, or None where it is not exact or pays not."""
        structure = piecewise_linear_mlp(model)
        if not (ENABLED and structure is not None and not model.training
                and basis[0].dtype in (torch.float32, torch.float64)
                and basis[0].device.type == "cpu" and len(coeffs) >= MIN_POINTS):
            return None
        line = line_positions(coeffs)
        if line is None:
            return None
        lo, hi, u = line
        basis = stacked(basis)  # a large model's line gives its endpoints as they are
        c = torch.as_tensor(np.asarray(coeffs, dtype=np.float64)).to(basis.dtype)
        # The segment between the extreme points, centred: theta(t) = (lo + hi)/2 + t (hi - lo).
        ends = layout.unflatten(c[lo] @ basis), layout.unflatten(c[hi] @ basis)
        c64 = np.asarray(coeffs, dtype=np.float64)
        return cls(*structure, ends, u - 0.5, c64[hi] - c64[lo])

    def rate(self, direction: np.ndarray) -> float:
        """dt/dalpha for alpha the coordinate along `direction` (K,) in coefficient space, the
        line's own direction: derivatives in t (`outputs`) times this (squared, for the second)
        are derivatives in alpha. For coeffs (1 - alpha, alpha), direction (-1, 1)."""
        r = float(direction @ self.span / (self.span @ self.span))
        if np.abs(r * self.span - direction).max() > COLLINEAR_TOL * max(1.0, float(np.abs(direction).max())):
            raise ValueError(f"the direction {direction} is not that of the line")
        return r

    def examples_within(self, budget: int, derivatives: bool = False) -> int:
        """How many examples' outputs at every point fit in `budget` bytes (with the caller's
        per-example costs over them, counted as two more copies; with derivatives, three times
        that for the outputs' jet and as much again for the objective's nested duals)."""
        copies = 18 if derivatives else 3
        per_example = copies * len(self.t_sorted) * self._out_features() * self.w_big.element_size()
        return max(1, budget // per_example)

    def blocks(self, n: int) -> list[slice]:
        """Blocks of examples, of nearly equal sizes, small enough that a block's Q stays in a
        core's cache. They depend on n and the net alone, never on the number of threads: each
        block's values, hence the line's bits, are the same on every worker (issue 18 §7)."""
        width = self.second.w.shape[0]
        rows = max(MIN_BLOCK_ROWS, BLOCK_BYTES // (4 * width * self.w_big.element_size()))
        count = -(-n // rows)
        rows = max(1, -(-n // count))
        return [slice(s, min(n, s + rows)) for s in range(0, n, rows)]

    # ------------------------------------------------------------------ evaluation
    def chunk_sums(self, objective: Objective, x: torch.Tensor, y: torch.Tensor, start: int, bounds: np.ndarray,
                   derivatives: bool = False) -> torch.Tensor:
        """(P, S, metric) sums of every point's metrics (compute/scoring.py) on one chunk of examples
        from `start` on, blocks of examples in parallel; with `derivatives` (a line (1 - alpha,
        alpha)), dJ/dalpha and d2J/dalpha2 as two more metrics."""
        def block_sums(rows: slice) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.outputs(x[rows], derivatives)  # with derivatives (3, P, b, out): the outputs' jet in t
            return chunk_sums(objective, *outputs_costs(objective, out[0] if derivatives else out, y[rows]),
                              start + rows.start, bounds), out
        blocks = self.blocks(len(x))  # the same blocks whatever the number of threads
        parts = map_single_threaded(block_sums, blocks)
        sums = sum((s for s, _ in parts[1:]), parts[0][0])  # in block order: the same sums whatever the threads' timing
        if derivatives:  # forward AD's levels are global, not per thread: the objective's jvps run here
            sums = torch.cat([sums, self._derivative_sums(objective, [jet for _, jet in parts], y, blocks, start,
                                                          bounds)], dim=2)
        return sums

    def _derivative_sums(self, objective: Objective, jets: list[torch.Tensor], y: torch.Tensor, blocks: list[slice],
                         start: int, bounds: np.ndarray) -> torch.Tensor:
        """(P, S, 2) sums of dJ/dalpha and d2J/dalpha2 from the outputs' jets of a chunk's blocks."""
        rate = self.rate(LINE_DIRECTION)  # dt/dalpha
        sums = torch.zeros(jets[0].shape[1], len(bounds) - 1, 2, dtype=torch.float64)
        for rows, jet in zip(blocks, jets):
            g, targets = jet.shape[1], targets_for(objective, y[rows], jet.shape[1])
            taken = jet if objective.leading_dims else jet.reshape(3, -1, *jet.shape[3:])
            for m, v in enumerate(objective_derivatives(objective.per_example, taken, targets)):
                add_segments(sums[:, :, m], v * rate ** (m + 1), g, start + rows.start, bounds)
        return sums

    def outputs(self, x: torch.Tensor, derivatives: bool = False) -> torch.Tensor:
        """(P, b, out): the network's output at every point for a block of examples, in the
        caller's point order; with `derivatives`, (3, P, b, out): the output and its first and
        second derivatives in t (see `rate`), exact, with relu'(0) = 0 as torch takes it."""
        z = F.linear(x.flatten(1), *self.first_stacked)  # [zc | dz]: one product, one pass over x
        n, h, o = len(z), z.shape[1] // 2, self.second.w.shape[0]
        # A NaN or inf in layer 1 (bad inputs, or an overflow) has no sign to flip: such a block
        # takes the plain per-point layer 2, which carries it through as a forward pass does.
        if not bool(torch.isfinite(z).all()):
            out = self._dense(z, derivatives)
        else:
            left, events = self._first_point(z)
            if not self._sparse_pays(n, h, o, len(events.example)):
                out = self._dense(z, derivatives)
            elif self.sweep_last is not None:
                out = self._compiled_sweep(self._start(left), events, derivatives)
            else:
                out = self._torch_sweep(self._start(left), events, derivatives)
        if self.unsort is None:
            return out
        return out[:, self.unsort] if derivatives else out[self.unsort]

    def _out_features(self) -> int:
        return (self.rest[-1] if self.rest else self.second).w.shape[0]

    def _outputs_buffer(self, b: int, derivatives: bool, dtype: torch.dtype) -> torch.Tensor:
        """(P, b, out), or (3, P, b, out) for the outputs' jet."""
        shape = (len(self.t_sorted), b, self._out_features())
        return torch.empty((3, *shape) if derivatives else shape, dtype=dtype)

    def _dense(self, z: torch.Tensor, derivatives: bool = False) -> torch.Tensor:
        """Layer 2 by a dense product at every point (many flips, or values without a sign)."""
        h = z.shape[1] // 2
        zc, dz = z[:, :h], z[:, h:]
        out = self._outputs_buffer(len(z), derivatives, z.dtype)
        rates = self.second.rates()
        for k, ti in enumerate(self.t_sorted):
            out_k = out[:, k] if derivatives else out[k:k + 1]
            # layer 1's output along the line: zc + t dz, its derivative dz, no second derivative
            jet = self._act_jet((zc + ti * dz,) + ((dz, None) if derivatives else ()))
            y = self._affine_jet(jet, *self.second.addmm_at(ti), *rates, None if self.rest else out_k)
            if self.rest:
                self._rest_into(y, k, out_k)
        return out

    def _compiled_sweep(self, q: torch.Tensor, events: FlipEvents, derivatives: bool = False) -> torch.Tensor:
        """Every point in one call of `sweep`, without the GIL."""
        (w_rest, b_rest), (wc_t, d_t) = self.sweep_last, self.second_t
        # class-major (P, out, b), returned as a (P, b, out) view: reductions over the outputs
        # (a softmax, an argmax) then run along contiguous examples, several times faster
        shape = (len(self.t_sorted), self._out_features(), len(q))
        out = torch.empty((3, *shape) if derivatives else shape, dtype=q.dtype)
        jet = out.numpy() if derivatives else (out.numpy(), np.empty((0, 0, 0), dtype=self.t_array.dtype),
                                               np.empty((0, 0, 0), dtype=self.t_array.dtype))
        sweep(q.numpy(), wc_t, d_t, events.example.numpy(), events.unit.numpy(), events.v0.numpy(),
               events.v1.numpy(), events.starts, self.t_array, self.relu, w_rest, b_rest, *self.sweep_rates,
               jet[0], jet[1], jet[2])
        return out.transpose(-2, -1)

    def _torch_sweep(self, q: torch.Tensor, events: FlipEvents, derivatives: bool = False) -> torch.Tensor:
        """Point by point with torch operations, for nets `sweep` does not cover."""
        o = self.second.w.shape[0]
        q0, q1, q2 = q[:, :o], q[:, o:2 * o], q[:, 2 * o:]
        out = self._outputs_buffer(len(q), derivatives, q.dtype)
        y = torch.empty(len(q), o, dtype=q.dtype)  # layer 2's pre-activation (there are layers after it)
        for k, (ti, change) in enumerate(zip(self.t_sorted, events.changes())):
            if change is not None:
                torch.addmm(q, change, self.w_big, out=q)
            torch.add(q1, q2, alpha=ti, out=y)  # y = Q0 + t (Q1 + t Q2)
            torch.add(q0, y, alpha=ti, out=y)
            if derivatives:  # y' = Q1 + 2 t Q2, y'' = 2 Q2
                self._rest_into((y, torch.add(q1, q2, alpha=2 * ti), 2 * q2), k, out[:, k])
            else:
                self._rest_into((y,), k, out[k:k + 1])
        return out

    def _sparse_pays(self, n: int, h: int, o: int, n_flips: int) -> bool:
        """Compare the multiply-adds of the two ways to get layer 2 at every point (see constants)."""
        k = len(self.t_sorted)
        dense = k * n * h * o
        if self.sweep_last is not None:  # compiled: a flip costs its row updates, a point no call
            return 6 * n * h * o + 6 * n_flips * o < dense
        sparse = 6 * n * h * o + SPARSE_MAC_COST * 6 * n_flips * o + (k - 1) * SPARSE_CALL_COST
        return sparse < dense

    def _act_jet(self, jet: tuple) -> tuple:
        """The activation of a pre-activation and its derivatives (y, [y', y'']), the value in
        place (it is always a fresh intermediate or this block's buffer); a None derivative is 0."""
        if not self.relu:
            return jet
        h = jet[0].relu_()
        if len(jet) == 1:
            return (h,)
        on = h > 0  # relu'(0) = 0, as torch's; NaN stays NaN in h
        return (h,) + tuple(None if d is None else d * on for d in jet[1:])

    @staticmethod
    def _affine_jet(jet: tuple, w_t: torch.Tensor, b: torch.Tensor, dw_t: torch.Tensor, db: torch.Tensor,
                    out: torch.Tensor | None = None) -> tuple:
        """An affine map along the line, W(t) h + b(t) with W(t) = W + t D, of h and its
        derivatives (h, [h', h'']): (W h + b, [D h + W h' + db, 2 D h' + W h'']), into `out`
        ((1 or 3, b, out) rows) when given."""
        h = jet[0]
        outs = [None] * len(jet) if out is None else list(out)
        values = [torch.addmm(b, h, w_t, out=outs[0])]
        if len(jet) == 1:
            return tuple(values)
        h1, h2 = jet[1:]
        first = torch.addmm(db, h, dw_t, out=outs[1])
        values.append(first.addmm_(h1, w_t))
        second = torch.mm(h1, dw_t, out=outs[2]).mul_(2.0)
        values.append(second if h2 is None else second.addmm_(h2, w_t))
        return tuple(values)

    def _rest_at(self, k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Layers 3.. at the k-th point (sorted): (weight^T, bias) each, for addmm."""
        return [layer.addmm_at(self.t_sorted[k]) for layer in self.rest]

    def _rest_into(self, jet: tuple, k: int, out: torch.Tensor) -> None:
        """Layers 3.. at the k-th point (sorted), from layer 2's pre-activation jet (y, [y', y'']),
        into out ((1 or 3, b, out))."""
        layers = self.rest_cached[k] if self.rest_cached is not None else self._rest_at(k)
        for i, ((w_t, b), rates) in enumerate(zip(layers, self.rest_rates)):
            jet = self._affine_jet(self._act_jet(jet), w_t, b, *rates, out if i == len(layers) - 1 else None)

    def _start(self, left: torch.Tensor) -> torch.Tensor:
        """Q = [P0 | P1] w_big = [Q0 | Q1 | Q2] (b, 3 width) at the first point, biases in."""
        q = left @ self.w_big
        if self.second.b is not None:
            o = self.second.w.shape[0]
            q[:, :o] += self.second.b
            q[:, o:2 * o] += self.second.db
        return q

    def _first_point(self, z: torch.Tensor) -> tuple[torch.Tensor, FlipEvents]:
        """[P0 | P1] (b, 2H) at the first point, and every sign flip after it (`flip_events`),
        from z = [zc | dz] (b, 2H)."""
        n, h = z.shape[0], z.shape[1] // 2
        left, example, unit, v0, v1, counts = flip_events(z.numpy(), self.t_array, self.relu)
        return torch.from_numpy(left), FlipEvents(n, h, torch.from_numpy(example), torch.from_numpy(unit),
                                               torch.from_numpy(v0), torch.from_numpy(v1), counts)
