"""compute/lanczos.py on dense matrices whose spectra are known exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from compute.lanczos import (extreme_eigenpairs, rademacher, spectral_density, symlog, symlog_inverse,
                             trace_estimate)


def matrix_with(eigenvalues, seed: int = 0) -> torch.Tensor:
    """A dense symmetric float64 matrix with the given eigenvalues and a random eigenbasis."""
    n = len(eigenvalues)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q @ torch.diag(torch.as_tensor(eigenvalues, dtype=torch.float64)) @ q.T


def counted(a: torch.Tensor):
    calls = [0]

    def matvec(v: torch.Tensor) -> torch.Tensor:
        calls[0] += len(v)
        return v @ a  # a symmetric: (k, D) @ A = (A v_i)^T

    return matvec, calls


def test_top_and_bottom_eigenpairs_match_eigh():
    spectrum = np.concatenate([[50.0, 20.0, 9.0], np.linspace(-3.0, 2.0, 117)])
    a = matrix_with(spectrum)
    matvec, calls = counted(a)
    pairs = extreme_eigenpairs(matvec, len(a), top=3, bottom=2, tol=1e-10, max_steps=120)
    exact = np.sort(spectrum)
    assert pairs.converged
    np.testing.assert_allclose(pairs.top, exact[::-1][:3], rtol=1e-10)
    np.testing.assert_allclose(pairs.bottom, exact[:2], rtol=1e-8)
    for value, vector, residual in zip(pairs.top, pairs.top_vectors, pairs.top_residuals):
        true_residual = float(torch.linalg.vector_norm(a @ vector - value * vector))
        assert abs(true_residual - residual) < 1e-9 * abs(value)
        assert abs(float(torch.linalg.vector_norm(vector)) - 1) < 1e-12
    assert calls[0] == pairs.iterations < len(a)  # one product per iteration, fewer than the dimension
    assert [h["iteration"] for h in pairs.history] == list(range(1, pairs.iterations + 1))


def test_loose_tolerance_stops_early_and_says_so():
    spectrum = np.concatenate([[89.0], np.linspace(0.0, 10.0, 299)])
    matvec, calls = counted(matrix_with(spectrum, seed=1))
    pairs = extreme_eigenpairs(matvec, 300, top=1, tol=1e-3, max_steps=200)
    assert pairs.converged and pairs.iterations < 30
    assert abs(pairs.top[0] - 89.0) <= 1e-3 * 89.0
    assert abs(pairs.top[0] - 89.0) <= pairs.top_bounds[0] * 1.0001 + 1e-12
    capped = extreme_eigenpairs(counted(matrix_with(spectrum, seed=1))[0], 300, top=1, tol=1e-14, max_steps=3)
    assert not capped.converged and capped.iterations == 3


@pytest.mark.parametrize("seed", range(4))
def test_a_close_pair_at_the_top_is_not_stopped_at_the_second(seed):
    """Two top eigenvalues 0.4 % apart above a bulk: the Krylov space finds a blend near the second
    first, with a small bound and a value that barely moves (5 products stopped 1.7287-1.7337, 4x
    the tolerance, before MIN_STEPS). The stop must wait for the top."""
    rng = np.random.default_rng(seed)
    spectrum = np.concatenate([[1.735, 1.7275], rng.uniform(0.0, 0.5, 398)])
    matvec, calls = counted(matrix_with(spectrum, seed=seed))
    pairs = extreme_eigenpairs(matvec, 400, top=1, tol=1e-3, max_steps=100, seed=seed)
    assert pairs.converged and calls[0] == pairs.iterations
    assert abs(pairs.top[0] - 1.735) <= 1e-3 * 1.735


def test_curvature_keys_name_the_method_and_other_keys_do_not_change():
    from compute.kinds.hessian import HessianQuery
    from compute.kinds.line import LineQuery
    from compute.lanczos import METHOD_VERSION

    plain = LineQuery.from_args("init:r", "final:r", "0:1", 5, "train")
    sharp = LineQuery.from_args("init:r", "final:r", "0:1", 5, "train", sharpness=1)
    assert plain.key_salt() == "" and sharp.key_salt() == f"lanczos-{METHOD_VERSION}"
    assert HessianQuery("final:r", top=1).key_salt() == f"lanczos-{METHOD_VERSION}"


def test_small_operator_is_exhausted_exactly():
    a = matrix_with([4.0, 1.0, -2.0])
    pairs = extreme_eigenpairs(counted(a)[0], 3, top=1, bottom=1, tol=1e-12, max_steps=50)
    np.testing.assert_allclose([pairs.top[0], pairs.bottom[0]], [4.0, -2.0], rtol=1e-12)
    assert pairs.converged and pairs.iterations == 3


def test_eigenvector_signs_are_fixed():
    a = matrix_with([5.0, 1.0, 0.5, 0.1])
    v1 = extreme_eigenpairs(counted(a)[0], 4, top=1, seed=0, tol=1e-12).top_vectors[0]
    v2 = extreme_eigenpairs(counted(a)[0], 4, top=1, seed=7, tol=1e-12).top_vectors[0]
    torch.testing.assert_close(v1, v2, rtol=0, atol=1e-10)
    assert v1[v1.abs().argmax()] > 0


def test_hutchinson_is_unbiased_over_every_sign_vector():
    """E[v^T A v] = tr(A) for Rademacher v: averaged over all 2^n sign vectors it is exact."""
    a = matrix_with([3.0, -1.0, 0.5, 2.0, 7.0, -4.0], seed=2) + 0.3  # dense, off-diagonal mass
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=6)), dtype=torch.float64)
    mean = float(((signs @ a) * signs).sum(dim=1).mean())
    assert abs(mean - float(torch.trace(a))) < 1e-12
    # and the estimator itself: its error is of the order of its standard error
    est = trace_estimate(counted(a)[0], 6, 400, seed=3)
    assert est.probes == 400 and est.method == "hutchinson"
    assert abs(est.value - float(torch.trace(a))) < 4 * est.standard_error
    assert est.standard_error > 0


def test_hutch_plus_plus_is_exact_on_low_rank_and_unbiased_on_the_rest():
    low_rank = matrix_with([40.0, -25.0, 10.0] + [0.0] * 57, seed=4)
    est = trace_estimate(counted(low_rank)[0], 60, 12, method="hutch++", seed=0)
    assert est.probes == 12
    assert abs(est.value - 25.0) < 1e-9 and est.standard_error < 1e-9
    full = matrix_with(np.linspace(-1.0, 5.0, 60), seed=5)
    many = [trace_estimate(counted(full)[0], 60, 30, method="hutch++", seed=s).value for s in range(60)]
    assert abs(np.mean(many) - float(torch.trace(full))) < 4 * np.std(many) / np.sqrt(len(many))


def test_trace_refuses_too_few_probes():
    with pytest.raises(ValueError):
        trace_estimate(counted(torch.eye(3, dtype=torch.float64))[0], 3, 1)
    with pytest.raises(ValueError):
        trace_estimate(counted(torch.eye(3, dtype=torch.float64))[0], 3, 5, method="hutch++")


def test_slq_density_integrates_to_one_and_finds_the_outliers():
    spectrum = np.concatenate([[60.0, 30.0], np.linspace(-0.5, 1.0, 198)])
    matvec, calls = counted(matrix_with(spectrum, seed=6))
    d = spectral_density(matvec, 200, probes=4, steps=40, seed=0, sigma=0.05)
    assert calls[0] == 4 * 40
    for w in d.weights:
        assert abs(sum(w) - 1) < 1e-10
    u = symlog(d.grid, d.linthresh)
    assert abs(np.trapezoid(d.density, u) - 1) < 1e-6
    assert abs(np.trapezoid(d.density_lambda, d.grid) - 1) < 1e-3
    nodes = np.concatenate([np.asarray(n) for n in d.nodes])
    assert abs(nodes.max() - 60.0) < 1e-8 and abs(nodes.min() + 0.5) < 0.05
    # the mass of the two outliers is about 2/200 of the whole
    heavy = np.trapezoid(np.where(d.grid > 20, d.density, 0), u)
    assert 0.002 < heavy < 0.05


def test_symlog_round_trip():
    x = np.array([-100.0, -0.01, 0.0, 0.002, 5.0, 1e4])
    np.testing.assert_allclose(symlog_inverse(symlog(x, 0.1), 0.1), x, rtol=1e-12, atol=1e-15)


def test_rademacher_is_seeded_and_signs():
    a, b = rademacher(3, 50, 9), rademacher(3, 50, 9)
    assert torch.equal(a, b) and set(a.unique().tolist()) == {-1.0, 1.0}
