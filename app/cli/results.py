"""The commands that compute a result: `line`, `trajectory`, `surface`, `hessian`, `control ...`.
Values stay strings here: the query constructors of compute/kinds/ parse and validate them, as they do the
page's fields and the API's parameters."""

from __future__ import annotations

import click

from compute.kinds import resolve
from compute.kinds.control import CONTROL_PARAMS, ControlQuery, ControlResult
from compute.kinds.curve import load_curve
from compute.kinds.hessian import HessianQuery, HessianResult
from compute.kinds.line import LineQuery
from compute.kinds.line_result import LineResult
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.surface.result import SurfaceResult
from compute.kinds.trajectory import TrajectoryQuery, TrajectoryResult
from compute.store import Store
from models.errors import BadInput

from ..fields import LINE_FIELDS, SURFACE_FIELDS
from .options import bn_option, check_name, compute_result, emit, result_options


@click.command("line")
@click.option("--from", "start", callback=check_name,
              help="init:RUN, final:RUN, step:RUN:T, random:SEED[:SCALE] (with --curve: the curve's own)")
@click.option("--to", "end", callback=check_name)
@click.option(LINE_FIELDS.cli("alpha_min"), "alpha", default="0:1", help="range A:B (default 0:1)")
@click.option(LINE_FIELDS.cli("points"), "points", default="50",
              help="2 to 2001 (default 50), or auto: an adaptive grid (see --tolerance)")
@click.option(LINE_FIELDS.cli("tolerance"), "tolerance", default=None, metavar="T",
              help="with --points auto: refine until linear interpolation is within T x the curve's range "
                   "(default 0.001; at most 401 points)")
@click.option(LINE_FIELDS.cli("derivatives"), "derivatives", is_flag=True,
              help="also dJ/dalpha and d2J/dalpha2 at every point, exactly (the line fast path, or double backward)")
@click.option("--sharpness", is_flag=True, help="also lambda_max of the Hessian at the points (Lanczos; slow)")
@click.option(LINE_FIELDS.cli("sharpness"), "sharpness_every", metavar="N",
              help="lambda_max at every N-th point and the last (implies --sharpness)")
@click.option(LINE_FIELDS.cli("splits"), "splits", default="train,valid")
@click.option(LINE_FIELDS.cli("dtype"), "dtype", default="float32",
              help="the forward's precision: float32 (default, exact), bfloat16 or float16 (previews; "
                   "totals in float64, the error against float32 in meta.precision_error), float64")
@click.option(LINE_FIELDS.cli("dropout_samples"), "dropout_samples", default="0", metavar="N",
              help="0 (default): the cost with dropout off, weights scaled, as in the paper; N > 0: a "
                   "Monte-Carlo estimate with dropout on, the mean of N passes (models with dropout)")
@click.option(LINE_FIELDS.cli("curve"), "curve", metavar="ID",
              help="a curve `landscape curve` recorded: J along it at t in [0, 1] instead of the straight line")
@bn_option
@result_options
def cmd_line(start: str | None, end: str | None, alpha: str, points: str, tolerance: str | None, derivatives: bool,
             sharpness: bool, sharpness_every: str | None, splits: str, dtype: str, dropout_samples: str, bn: str, curve: str | None, fmt: str,
             out: str | None, local: bool, plot: str | None) -> None:
    """exact cost along the line between two endpoints, with its metrics (barrier, monotonicity, minima)"""
    if curve is not None and start is None and end is None:  # the two solutions the curve joins
        manifest, _ = load_curve(Store(), curve)
        start, end = f"final:{manifest['start']}", f"final:{manifest['end']}"
    if start is None or end is None:
        raise BadInput("give both --from and --to (or --curve ID)", field="from" if start is None else "to")
    query = resolve(LineQuery.from_args(start, end, alpha, points, splits, dtype, dropout_samples, bn, derivatives,
                                        tolerance, sharpness_every or (1 if sharpness else 0), curve), Store())
    emit(LineResult.from_json(compute_result(query, local, "line")), fmt, out, plot)


@click.command("trajectory")
@click.argument("run", callback=check_name)
@result_options
def cmd_trajectory(run: str, fmt: str, out: str | None, local: bool, plot: str | None) -> None:
    """alpha(t), beta(t) and the learning curve of a run"""
    query = resolve(TrajectoryQuery(run), Store())
    emit(TrajectoryResult.from_json(compute_result(query, local, "trajectory")), fmt, out, plot)


@click.command("surface")
@click.argument("run", callback=check_name)
@click.option(SURFACE_FIELDS.cli("surface"), "kind",
              default="paper", help="paper (default; rows along the residual directions, "
              "appendix C), random-plane (Fig 21), alpha-random (Fig 22), hessian (the plane of the top two "
              "Hessian eigenvectors at theta_f), pca (the plane of the trajectory's first two principal "
              "directions, Li et al. 2018)")
@click.option(SURFACE_FIELDS.cli("alpha_min"), "alpha", help="range A:B (default: fitted to the trajectory)")
@click.option(SURFACE_FIELDS.cli("beta_min"), "beta", help="range B0:B1 (default: fitted to the trajectory)")
@click.option(SURFACE_FIELDS.cli("rows"), "points",
              default="41x41", help="NxM rows (alpha) x columns (beta), 2..201 each (default 41x41)")
@click.option(SURFACE_FIELDS.cli("splits"), "splits", default="train")
@click.option(SURFACE_FIELDS.cli("dtype"), "dtype",
              default="float32", help="the forward's precision: float32 (default, exact), bfloat16 or float16 (previews; "
                   "totals in float64, the error against float32 in meta.precision_error), float64")
@click.option(SURFACE_FIELDS.cli("seed"), "seed",
              help="random directions' seed (random-plane, alpha-random; default 0)")
@click.option(SURFACE_FIELDS.cli("scale"), "scale",
              help="random-plane: direction norm (default ||theta_f - theta_i||), or with "
              "--normalization filter a factor on theta_f's filter norms (default 1)")
@click.option(SURFACE_FIELDS.cli("normalization"), "normalization",
              help="random-plane: global (default) or filter (Li et al. 2018)")
@bn_option
@result_options
def cmd_surface(run: str, kind: str, alpha: str | None, beta: str | None, points: str, splits: str, dtype: str,
                seed: str | None, scale: str | None, normalization: str | None, bn: str, fmt: str, out: str | None,
                local: bool, plot: str | None) -> None:
    """cost surface of a run with its trajectory on it (Figs 15-22)"""
    query = resolve(SurfaceQuery.from_args(run, kind, alpha, beta, points, splits, dtype, seed, scale,
                                           normalization, bn), Store())
    emit(SurfaceResult.from_json(compute_result(query, local, f"surface {kind}")), fmt, out, plot)


@click.command("hessian")
@click.argument("endpoint", callback=check_name)
@click.option("--top", default="1", metavar="K", help="the K largest eigenvalues (default 1; 0 for none)")
@click.option("--bottom", default="0", metavar="K", help="the K most negative eigenvalues (default 0)")
@click.option("--trace", is_flag=True, help="also the trace (Hutchinson; see --trace-probes)")
@click.option("--density", is_flag=True, help="also the spectral density (stochastic Lanczos quadrature)")
@click.option("--splits", default="train")
@click.option("--to", "to", callback=check_name, help="with --alpha: the point (1-alpha) ENDPOINT + alpha TO of a line")
@click.option("--alpha", help="with --to: where on the line")
@click.option("--tolerance", default="1e-3", help="eigenvalues' relative error bound (default 1e-3)")
@click.option("--iterations", default="100", help="most Lanczos steps (default 100)")
@click.option("--trace-method", default="hutchinson", help="hutchinson (default) or hutch++")
@click.option("--trace-probes", default="30", help="products for the trace (default 30)")
@click.option("--density-probes", default="4", help="SLQ probes (default 4)")
@click.option("--density-steps", default="40", help="Lanczos steps per SLQ probe (default 40)")
@click.option("--broadening", default="0.05", help="SLQ Gaussian width on the symmetric-log axis (default 0.05)")
@click.option("--seed", default="0", help="seed of the random vectors (default 0)")
@click.option("--dtype", default="float32", help="float32 (default) or float64")
@bn_option
@result_options
def cmd_hessian(endpoint: str, top: str, bottom: str, trace: bool, density: bool, splits: str, to: str | None,
                alpha: str | None, tolerance: str, iterations: str, trace_method: str, trace_probes: str,
                density_probes: str, density_steps: str, broadening: str, seed: str, dtype: str, bn: str, fmt: str,
                out: str | None, local: bool, plot: str | None) -> None:
    """the Hessian's top/bottom eigenvalues, trace and spectral density at a point (whole splits)"""
    query = resolve(HessianQuery(endpoint, to, alpha, top, bottom, trace, density, splits, dtype, bn, tolerance,
                                 iterations, trace_method, trace_probes, density_probes, density_steps, broadening,
                                 seed), Store())
    emit(HessianResult.from_json(compute_result(query, local, "hessian")), fmt, out, plot)


def _control_command(experiment: str, schema: dict) -> click.Command:
    """`landscape control EXPERIMENT`: one option per parameter of CONTROL_PARAMS (strings, parsed
    by ControlQuery), plus the run for `extremes`."""

    def control(fmt: str, out: str | None, local: bool, plot: str | None, run: str | None = None,
                **values: str | None) -> None:
        given = tuple((name, values[name]) for name in schema if values[name] is not None)
        query = resolve(ControlQuery(experiment, run, given), Store())
        emit(ControlResult.from_json(compute_result(query, local, experiment)), fmt, out, plot)

    command = result_options(control)
    for name, (_, default) in reversed(schema.items()):  # decorators apply bottom-up: keep the table's order
        command = click.option(f"--{name.replace('_', '-')}", name, help=f"default {default}")(command)
    if experiment == "extremes":
        command = click.argument("run", callback=check_name)(command)
    return click.command(experiment)(command)


cmd_control = click.Group("control", no_args_is_help=False,
                          commands=[_control_command(name, schema) for name, schema in CONTROL_PARAMS.items()],
                          help="control experiments: random-walk (Fig 11), convex (12), factored (14), "
                               "scalar-lines (9, 10), extremes (7 right)")
