"""`landscape curve`: a curve of low cost between two solutions, trained as a job (compute/kinds/curve.py)."""

from __future__ import annotations

import sys

import click

from compute.kinds import resolve
from compute.kinds.curve import CurveQuery, CurveResult
from compute.results import dumps
from compute.store import Store

from .options import compute_result, out_path, write


@click.command("curve")
@click.option("--from", "start", required=True, metavar="final:RUN_A", help="one solution")
@click.option("--to", "end", required=True, metavar="final:RUN_B", help="the other, of the same model and data")
@click.option("--bends", default="1", help="bends of the curve: 1 (Garipov et al.'s)")
@click.option("--kind", "curve", default="bezier", help="bezier (default; a quadratic Bézier curve) or polychain "
              "(a polygonal chain with one bend)")
@click.option("--epochs", help="epochs of SGD on the bend (default: as many as the first run trained at most)")
@click.option("--seed", default="0", help="the minibatches' order, every t drawn and the dropout masks (default 0)")
@click.option("--points", default="21", help="values of t in [0, 1] where J is evaluated on the curve and the line")
@click.option("--splits", default="train")
@click.option("--out", callback=out_path, metavar="FILE", help="also write the result's JSON to FILE")
@click.option("--local", is_flag=True, help="compute in this process even when REDIS_URL is set")
def cmd_curve(start: str, end: str, bends: str, curve: str, epochs: str | None, seed: str, points: str, splits: str,
              out: str | None, local: bool) -> None:
    """train a curve of low cost between two solutions (Garipov et al. 2018); prints the curve's id last"""
    query = resolve(CurveQuery(start, end, curve, bends, epochs, seed, points, splits), Store())
    result = CurveResult.from_json(compute_result(query, local, f"curve {curve}"))
    if out is not None:
        write(dumps(result.to_json()), out)
    for s in query.splits:  # the answer in two numbers per split, then the id
        line, on_curve = ("undecided" if b is None else f"{b['height']:.4g}"  # None: a non-finite sample
                          for b in (result.metrics[k][s]["barrier"] for k in ("line", "curve")))
        print(f"{s} barrier: straight line {line}, curve {on_curve}", file=sys.stderr)
    print(result.curve)
