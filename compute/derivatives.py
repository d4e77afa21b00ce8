"""Exact derivatives of J along a line: dJ/dalpha and d2J/dalpha2 by forward mode.

Along theta(alpha) = theta0 + alpha d, d = theta1 - theta0, the cost of a point is a function of
one number, so its first two derivatives are two nested Jacobian-vector products in the one
direction d (torch.func.jvp of torch.func.jvp): exact to rounding, no finite differences, no
Hessian. Two ways to them, both through `Evaluator.line` (which holds the evaluator's lock):

- Lines of piecewise-linear MLPs on the line fast path (compute/linefast.py) get the outputs'
  first two derivatives from the fast path's own pass, exactly (between sign flips the network
  is a polynomial in alpha), and `objective_derivatives` takes them through the objective: the
  cost and its derivatives come out of one pass over the data.
- Everything else, `line_derivatives`: nested jvps of the whole network, about the price of
  three forward passes, after the cost. The model is the same pure function of (theta, batch)
  the evaluator uses (torch.func.functional_call), on the evaluator's data.

Buffers (BatchNorm statistics) between checkpoints are mixed with the same alpha as theta
(bn=interpolate), so they too move along the line: their direction b1 - b0 is part of the
tangent, and the derivatives are those of the very curve J(alpha) the line draws. Statistics
recomputed at every point (bn=recompute) are refused by the query.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.func import jvp, vmap

DERIVATIVE_POINTS_PER_CALL = 16


def objective_derivatives(per_example: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], jet: torch.Tensor,
                          targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dc/dalpha, d2c/dalpha2) per example of the cost c = per_example(out(alpha), targets), from
    the outputs' jet (3, ...) = (out, out', out'') at alpha.

    By the chain rule, dc/dalpha = grad c . out' and d2c/dalpha2 = out'^T (hess c) out' +
    grad c . out'': the jvp of (o, v) -> grad c(o) . v (itself a jvp) at (out, out') in the
    direction (out', out''). Two nested jvps of the objective alone, on the outputs: any
    objective, no network. (Tangents on the outputs themselves: ~4x faster than a scalar s along
    out + s out' + s^2/2 out'', whose duals would cost three more full-size operations each.)
    """
    def slope(out: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
        return jvp(lambda o: per_example(o, targets), (out,), (tangent,))[1]

    return jvp(slope, (jet[0], jet[1]), (jet[1], jet[2]))


def line_derivatives(evaluator, start: torch.Tensor, direction: torch.Tensor, alphas: np.ndarray,
                     splits: Sequence[str], progress=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (dJ/dalpha (P,), d2J/dalpha2 (P,))} at start + alpha direction for each alpha, by
    nested jvps of the network.

    start, direction: the parameters, or [parameters | buffers] (a model with float buffers), on
    the evaluator's device and in its dtype.
    """
    ev = evaluator
    x = torch.cat([ev.data[s][0] for s in splits])
    y = torch.cat([ev.data[s][1] for s in splits])
    bounds = np.cumsum([0] + [len(ev.data[s][0]) for s in splits])
    a = torch.as_tensor(np.asarray(alphas, dtype=np.float64)).to(ev.device, ev.dtype)
    factored = ev.factored and len(start) == ev.layout.numel
    # Points go through one vmap'd call in groups, on a CPU too: the nested duals make many small
    # operations per layer, whose overhead a group shares (on the small relu-mnist, 16 points at
    # once took 0.4x the time of a loop over them).
    group = max(ev.points_per_call, DERIVATIVE_POINTS_PER_CALL)
    with torch.no_grad():
        probe = ev._call(ev._unflatten(start), x[:1], **({"only_first_affine": True} if factored else {}))
    # two nested duals hold four values per activation, for every point of a group
    per_example = probe.numel() * probe.element_size() * 4 * group * 4
    chunk = int(max(1, min(len(x), ev.memory_budget // max(per_example, 1))))
    sums = torch.zeros(len(a), len(splits), 2, dtype=torch.float64)
    one = torch.ones((), device=ev.device, dtype=ev.dtype)
    starts = range(0, len(x), chunk)
    done, total = 0, len(starts) * len(a)
    with torch.no_grad():
        for lo in starts:
            xc, yc = x[lo:lo + chunk], y[lo:lo + chunk]
            first = None
            if factored:  # the first affine map is linear in theta: F(theta(alpha)) = F(start) + alpha F(d)
                first = [ev._call(ev._unflatten(v), xc, only_first_affine=True) for v in (start, direction)]

            def cost(alpha: torch.Tensor) -> torch.Tensor:  # per-example cost (B,) at theta(alpha)
                kwargs = {} if first is None else {"first_affine_out": first[0] + alpha * first[1]}
                out = ev._call(ev._unflatten(start + alpha * direction), xc, **kwargs)
                return ev.objective.per_example(out, yc)

            def first_two(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                inner = lambda t: jvp(cost, (t,), (one,))[1]  # noqa: E731  (dJ/dalpha per example)
                return jvp(inner, (alpha,), (one,))  # (dJ/dalpha, d2J/dalpha2) per example

            for p0 in range(0, len(a), group):
                ag = a[p0:p0 + group]
                if len(ag) == 1:
                    d1, d2 = (v[None] for v in first_two(ag[0]))
                else:
                    d1, d2 = vmap(first_two)(ag)
                for m, values in enumerate((d1, d2)):
                    ev._add_segments(sums[p0:p0 + len(ag), :, m], values, len(ag), lo, bounds)
                done += len(ag)
                if progress is not None:  # may raise to cancel
                    progress(done, total)
    means = sums / torch.as_tensor(np.diff(bounds), dtype=torch.float64)[None, :, None]
    return {s: (means[:, i, 0].numpy(), means[:, i, 1].numpy()) for i, s in enumerate(splits)}
