"""Spectra of a symmetric operator known only through products: Lanczos eigenpairs, trace estimates
and the spectral density by stochastic Lanczos quadrature.

Pure functions of a `matvec`: (k, D) float64 -> (k, D) float64, the operator applied to k vectors at
once (for curvature, Hessian-vector products over whole splits: compute/hessian.py). Nothing here
knows of models; tests check every function against dense matrices.

- `extreme_eigenpairs`: Lanczos with full reorthogonalisation (classical Gram-Schmidt, twice: "twice
  is enough", Giraud et al. 2005) against every earlier Lanczos vector, the tridiagonal solved in
  float64 at every step. Stops, after at least MIN_STEPS products, when each wanted Ritz pair's
  eigenvalue error bound is below `tol` x |lambda| and the value moved less than that. The residual reported, ||H v - lambda v||, is computed from the products
  themselves (H Q is kept beside Q), not from the three-term recurrence.
- `trace_estimate`: Hutchinson (Rademacher probes), or Hutch++ (Meyer, Musco, Musco & Woodruff,
  SOSA 2021): a third of the products sketch the top of the range exactly, the rest estimate what is
  left; each with its standard error.
- `spectral_density`: stochastic Lanczos quadrature (Lin, Saad & Yang, SIAM Review 2016; Ghorbani,
  Krishnan & Xiao, ICML 2019): per probe an m-step Lanczos, its Ritz values as nodes and the squared
  first components of their eigenvectors as weights; the density is those nodes broadened by
  Gaussians of a stated width on a symmetric-log axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]  # (k, D) float64 -> (k, D) float64
StepProgress = Callable[[int, int], None]  # (done, total); may raise to cancel
# A Lanczos vector shorter than this (relative to the operator's scale) means the Krylov space is
# exhausted: the tridiagonal's eigenvalues are then eigenvalues of the operator.
BREAKDOWN = 1e-12


def rademacher(count: int, dim: int, seed: int) -> torch.Tensor:
    """(count, dim) float64 entries +-1, from a seeded generator (the same on every machine)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, 2, (count, dim), generator=g, dtype=torch.int8).to(torch.float64).mul_(2).sub_(1)


def _tridiagonal(alphas: list[float], betas: list[float]) -> np.ndarray:
    m = len(alphas)
    t = np.diag(np.asarray(alphas, dtype=np.float64))
    if m > 1:
        off = np.asarray(betas[:m - 1], dtype=np.float64)
        t += np.diag(off, 1) + np.diag(off, -1)
    return t


@dataclass
class LanczosRun:
    """One Lanczos run: Q (m, D) orthonormal, HQ = H Q (m, D), the tridiagonal's diagonal and
    off-diagonal, and the norm of the next residual (beta_m)."""
    q: torch.Tensor
    hq: torch.Tensor
    alphas: list
    betas: list  # betas[j] links q_j and q_{j+1}; len m (the last is beta_m)
    exhausted: bool = False

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values ascending and the tridiagonal's eigenvectors (m, m), in float64."""
        return np.linalg.eigh(_tridiagonal(self.alphas, self.betas))


def _orthogonalise(w: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """w minus its components along the rows of q, twice (classical Gram-Schmidt, twice)."""
    for _ in range(2):
        w = w - (q @ w) @ q
    return w


def lanczos(matvec: MatVec, start: torch.Tensor, steps: int, *, keep_products: bool = True,
            after_step: Callable[[LanczosRun], bool] | None = None) -> LanczosRun:
    """Up to `steps` Lanczos steps from `start` (D,), fully reorthogonalised. `after_step(run)` is
    called after each step and may return True to stop (converged) or raise (cancel)."""
    start = start.to(torch.float64)
    q0 = start / torch.linalg.vector_norm(start)
    dim = len(q0)
    steps = min(int(steps), dim)
    qs = torch.zeros(steps, dim, dtype=torch.float64)
    hqs = torch.zeros(steps, dim, dtype=torch.float64) if keep_products else None
    alphas, betas = [], []
    qs[0] = q0
    run = LanczosRun(qs[:0], hqs[:0] if keep_products else qs[:0], alphas, betas)
    scale = 0.0
    for j in range(steps):
        hq = matvec(qs[j][None])[0].to(torch.float64)
        if keep_products:
            hqs[j] = hq
        alpha = float(qs[j] @ hq)
        w = _orthogonalise(hq, qs[:j + 1])
        beta = float(torch.linalg.vector_norm(w))
        alphas.append(alpha)
        betas.append(beta)
        scale = max(scale, abs(alpha), beta)
        run = LanczosRun(qs[:j + 1], hqs[:j + 1] if keep_products else qs[:j + 1], alphas, betas)
        if beta <= BREAKDOWN * max(scale, 1e-300):
            run.exhausted = True
            return run
        if after_step is not None and after_step(run):
            return run
        if j + 1 < steps:
            qs[j + 1] = w / beta
    return run


@dataclass
class Eigenpairs:
    """The wanted extreme eigenpairs: values (descending for `top`, ascending for `bottom`), unit
    vectors (k, D), residuals ||H v - lambda v||, error bounds on the values, and how it converged."""
    top: np.ndarray
    top_vectors: torch.Tensor
    top_residuals: np.ndarray
    top_bounds: np.ndarray
    bottom: np.ndarray
    bottom_vectors: torch.Tensor
    bottom_residuals: np.ndarray
    bottom_bounds: np.ndarray
    iterations: int
    converged: bool
    history: list  # per iteration: {"iteration", "top": [...], "bottom": [...], "residual": max estimate}


def _wanted(values: np.ndarray, top: int, bottom: int) -> tuple[list[int], list[int]]:
    m = len(values)
    t = list(range(m - 1, max(m - 1 - top, -1), -1))
    b = [i for i in range(min(bottom, m)) if i not in t] if bottom else []
    return t, b


def _bounds(values: np.ndarray, residuals: np.ndarray, index: list[int]) -> np.ndarray:
    """Error bounds on Ritz values: min(r, r^2 / gap) (Parlett, The Symmetric Eigenvalue Problem,
    11.7). The r^2/gap form needs the gap to the rest of the spectrum; the Ritz gap overstates it
    while the neighbouring Ritz value is still moving (after two steps it is a blend of everything
    below), so each neighbour's own residual is taken off it: gap = min_j |theta_j - theta_i| - r_j,
    and where that is not positive the bound is r alone."""
    out = []
    for i in index:
        others = np.delete(np.arange(len(values)), i)
        gap = float(np.min(np.abs(values[others] - values[i]) - residuals[others])) if len(others) else math.inf
        r = float(residuals[i])
        out.append(min(r, r * r / gap) if gap > 0 else r)
    return np.asarray(out)


def _settled(history: list[dict], room: np.ndarray) -> bool:
    """The wanted values moved by at most `room` in the last step."""
    if len(history) < 2:
        return False
    before, now = (np.asarray(h["top"] + h["bottom"]) for h in history[-2:])
    return len(before) == len(now) and bool(np.all(np.abs(now - before) <= room))


# The fewest products before a stop. A bound only says a Ritz value is near SOME eigenvalue: with a
# close pair at the top, the Krylov space finds one of them first and its bound and its last move
# are both small while the larger one is not yet a Ritz value. Dense test (tests/compute/
# test_hessian_lanczos.py: eigenvalues 1.735 and 1.7275 above a bulk in [0, 0.5], D = 400): after 5
# products the bound and a settled value stopped 1.7287-1.7337; the top was within 1e-3 by step 4-8
# in 12 of 12 random starts. scipy's eigsh keeps a Krylov space of at least 20.
MIN_STEPS = 8
# Part of the curvature results' keys (compute/queries.py `Query.key_salt`): a change of the stop
# rule or the start changes results.
METHOD_VERSION = "2"


def extreme_eigenpairs(matvec: MatVec, dim: int, top: int = 1, bottom: int = 0, *, tol: float = 1e-3,
                       max_steps: int = 100, seed: int = 0, progress: StepProgress | None = None) -> Eigenpairs:
    """The `top` largest and `bottom` smallest (most negative) eigenpairs, by one Lanczos run from a
    seeded Rademacher vector, stopped once, after at least MIN_STEPS products, every wanted value's
    error bound is <= tol x |value| and the values moved by less than that in the last product (or
    after `max_steps` products; `converged` says which)."""
    if top < 0 or bottom < 0 or top + bottom < 1:
        raise ValueError("ask for at least one eigenpair")
    top, bottom = min(top, dim), min(bottom, dim - min(top, dim))  # an operator of dimension D has D
    want = top + bottom
    history: list[dict] = []
    steps = min(max_steps, dim)
    stopped = [False]

    def after_step(run: LanczosRun) -> bool:
        values, vectors = run.ritz()
        estimates = np.abs(run.betas[-1] * vectors[-1])  # |beta_m s_mi|: the recurrence's residuals
        t, b = _wanted(values, top, bottom)
        bounds = _bounds(values, estimates, t + b)
        scale = max(abs(values[0]), abs(values[-1]), 1e-300)
        history.append({"iteration": len(run.alphas), "top": values[t].tolist(), "bottom": values[b].tolist(),
                        "bound": float(np.max(bounds / np.maximum(np.abs(values[t + b]), 1e-300 * scale)))})
        if progress is not None:  # may raise to cancel
            progress(len(run.alphas), steps)
        enough = len(run.alphas) >= min(max(want + 1, MIN_STEPS), dim)
        room = tol * np.maximum(np.abs(values[t + b]), 1e-12 * scale)
        stopped[0] = bool(enough and np.all(bounds <= room) and _settled(history, room))
        return stopped[0]

    run = lanczos(matvec, rademacher(1, dim, seed)[0], steps, after_step=after_step)
    if run.exhausted:  # the last step had no next vector: record it, the values are exact
        after_step(run)
    values, vectors = run.ritz()
    t, b = _wanted(values, top, bottom)
    s = torch.as_tensor(vectors[:, t + b], dtype=torch.float64)  # (m, w)
    v = (s.T @ run.q)  # (w, D) Ritz vectors
    hv = (s.T @ run.hq)
    norms = torch.linalg.vector_norm(v, dim=1, keepdim=True)
    v, hv = v / norms, hv / norms
    lam = torch.as_tensor(values[t + b], dtype=torch.float64)
    residuals = torch.linalg.vector_norm(hv - lam[:, None] * v, dim=1).numpy()
    v = _signed(v)
    bounds = _bounds(values, np.abs(run.betas[-1] * vectors[-1]), t + b)
    converged = run.exhausted or stopped[0]
    nt = len(t)
    return Eigenpairs(values[t], v[:nt], residuals[:nt], bounds[:nt], values[b], v[nt:], residuals[nt:],
                      bounds[nt:], len(run.alphas), converged, history)


def _signed(v: torch.Tensor) -> torch.Tensor:
    """Each vector with its largest-magnitude entry positive: an eigenvector's sign is arbitrary,
    and a plane drawn along it should not flip between machines."""
    if not len(v):
        return v
    idx = torch.argmax(v.abs(), dim=1)
    signs = torch.sign(v[torch.arange(len(v)), idx])
    signs[signs == 0] = 1
    return v * signs[:, None]


# ------------------------------------------------------------------------------------------ trace
@dataclass
class TraceEstimate:
    value: float
    standard_error: float
    probes: int  # operator products used
    method: str
    samples: list  # the Hutchinson samples v^T H v (of the residual part, for Hutch++)


def trace_estimate(matvec: MatVec, dim: int, probes: int, *, method: str = "hutchinson", seed: int = 0,
                   batch: int = 1, progress: StepProgress | None = None) -> TraceEstimate:
    """tr(H) from `probes` products with Rademacher vectors (`batch` at a time).

    hutchinson: the mean of v^T H v, standard error std / sqrt(n). hutch++: S of probes // 3
    columns, Q = orth(H S); tr(Q^T H Q) exactly, plus Hutchinson on (I - QQ^T) H (I - QQ^T) with the
    remaining probes // 3 vectors; the standard error is that of the second part (the first has none).
    """
    if method not in TRACE_METHODS:
        raise ValueError(f"trace method must be one of {TRACE_METHODS}")
    done = [0]

    def products(vectors: torch.Tensor) -> torch.Tensor:
        out = []
        for lo in range(0, len(vectors), batch):
            out.append(matvec(vectors[lo:lo + batch]).to(torch.float64))
            done[0] += len(vectors[lo:lo + batch])
            if progress is not None:
                progress(done[0], probes)
        return torch.cat(out)

    if method == "hutchinson":
        if probes < 2:
            raise ValueError("Hutchinson needs at least 2 probes for a standard error")
        v = rademacher(probes, dim, seed)
        samples = (v * products(v)).sum(dim=1).numpy()
        return TraceEstimate(float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(probes)), probes, method,
                             samples.tolist())
    third = probes // 3
    if third < 2:
        raise ValueError("Hutch++ needs at least 6 probes")
    s = rademacher(third, dim, seed)
    q, _ = torch.linalg.qr(products(s).T)  # (D, third)
    q = q.T.contiguous()
    top = float((q * products(q)).sum())
    g = rademacher(third, dim, seed + 1)
    g = g - (g @ q.T) @ q
    samples = (g * products(g)).sum(dim=1).numpy()
    return TraceEstimate(top + float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(third)), 3 * third,
                         method, samples.tolist())


TRACE_METHODS = ("hutchinson", "hutch++")


# ------------------------------------------------------------------------------------------ density
def symlog(x: np.ndarray, linthresh: float) -> np.ndarray:
    """sign(x) log10(1 + |x| / linthresh): linear near 0, logarithmic beyond linthresh."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log10(1.0 + np.abs(x) / linthresh)


def symlog_inverse(u: np.ndarray, linthresh: float) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    return np.sign(u) * linthresh * (10.0 ** np.abs(u) - 1.0)


@dataclass
class Density:
    nodes: list  # per probe: Ritz values
    weights: list  # per probe: squared first components (each probe's weights sum to 1)
    grid: np.ndarray  # lambda values, uniform on the symmetric-log axis
    density: np.ndarray  # per unit of the symmetric-log coordinate u: integrates to 1 over u
    density_lambda: np.ndarray  # the same per unit of lambda: integrates to 1 over lambda
    sigma: float  # Gaussian broadening, in units of u
    linthresh: float
    steps: int
    probes: int


def spectral_density(matvec: MatVec, dim: int, probes: int, steps: int, *, seed: int = 0, sigma: float = 0.05,
                     linthresh: float | None = None, grid_points: int = 801,
                     progress: StepProgress | None = None) -> Density:
    """Stochastic Lanczos quadrature: `probes` Lanczos runs of `steps` steps from normalised
    Rademacher vectors; Ritz values theta_j with weights tau_j = s_1j^2. The density on the axis
    u = symlog(lambda) is (1/probes) sum tau_j N(u; symlog(theta_j), sigma^2): broadened on the axis
    it is drawn on, so a bulk near 0 and outliers at 100 are resolved alike. `linthresh` (default
    1e-3 of the largest |theta|) is where the axis turns from linear to logarithmic."""
    steps = min(int(steps), dim)
    nodes, weights = [], []
    starts = rademacher(probes, dim, seed)
    for p in range(probes):
        def after(run: LanczosRun, p=p) -> bool:
            if progress is not None:
                progress(p * steps + len(run.alphas), probes * steps)
            return False

        run = lanczos(matvec, starts[p], steps, keep_products=False, after_step=after)
        values, vectors = run.ritz()
        nodes.append(values.tolist())
        weights.append((vectors[0] ** 2).tolist())
    everything = np.concatenate([np.asarray(n) for n in nodes])
    top = float(np.max(np.abs(everything))) or 1.0
    linthresh = float(linthresh if linthresh is not None else 1e-3 * top)
    u_nodes = [symlog(np.asarray(n), linthresh) for n in nodes]
    lo = min(float(u.min()) for u in u_nodes) - 5 * sigma
    hi = max(float(u.max()) for u in u_nodes) + 5 * sigma
    u = np.linspace(lo, hi, grid_points)
    density = np.zeros_like(u)
    for un, w in zip(u_nodes, weights):
        density += (np.asarray(w)[:, None] * np.exp(-0.5 * ((u[None, :] - un[:, None]) / sigma) ** 2)).sum(axis=0)
    density /= probes * sigma * math.sqrt(2 * math.pi)
    grid = symlog_inverse(u, linthresh)
    du_dlambda = 1.0 / (math.log(10) * (linthresh + np.abs(grid)))
    return Density(nodes, weights, grid, density, density * du_dlambda, sigma, linthresh, steps, probes)
