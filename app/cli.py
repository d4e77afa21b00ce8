"""`landscape` — the command line. Results on stdout (JSON or CSV), progress on stderr, and
exit status 2 with one clear line for bad input.

    landscape models
    landscape train relu-mnist --preset small --seed 0
    landscape runs
    landscape line --from init:RUN --to final:RUN --alpha 0:1 --points 50 --format json
    landscape trajectory RUN --format csv
    REDIS_URL=redis://127.0.0.1:6379/0 landscape worker      # then `line` etc. run on the workers
    REDIS_URL=... landscape line ... --local                  # in this process all the same
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other bad input
        self.exit(2, f"landscape: error: {message}\n")


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    print(f"wrote {path}", file=sys.stderr)


def _emit(result, fmt: str, out: str | None) -> None:
    _write(result.to_csv() if fmt == "csv" else json.dumps(result.to_json()), out)


def _progress_bar(desc: str, unit: str = "pt"):
    bar = tqdm(total=0, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return bar, update


def cmd_models(args) -> None:
    from models import MODELS

    rows = [{"id": s.id, "presets": list(s.presets), "dataset": s.dataset, "objective": s.objective_name,
             "description": s.description} for s in MODELS.values()]
    if args.format == "json":
        _write(json.dumps(rows, indent=1), None)
        return
    width = max(len(r["id"]) for r in rows)
    for r in rows:
        print(f"{r['id']:<{width}}  {','.join(r['presets']):<12}  {r['description']}")


def cmd_train(args) -> None:
    from compute.store import Store
    from compute.training import train

    run = train(args.model, args.preset, args.seed, args.data, Store(), progress=True)
    valid = next(s for s in run.manifest["steps"] if s["step"] == run.final_step)["cost"].get("valid")
    print(f"theta_f = step {run.final_step} (valid cost {valid:.4f}), {len(run.steps)} checkpoints",
          file=sys.stderr)
    print(run.id)


def cmd_runs(args) -> None:
    from compute.store import Store

    runs = Store().list_runs()
    rows = []
    for run in runs:
        final = next(s for s in run.manifest["steps"] if s["step"] == run.final_step)
        rows.append({"id": run.id, "model": run.model_id, "preset": run.preset, "seed": run.manifest["seed"],
                     "checkpoints": len(run.steps), "final_step": run.final_step,
                     "final_valid_cost": final["cost"].get("valid"), "created": run.manifest.get("created")})
    if args.format == "json":
        _write(json.dumps(rows, indent=1), None)
    elif not rows:
        print("no runs yet: `landscape train MODEL` records one", file=sys.stderr)
    else:
        for r in rows:
            cost = f"{r['final_valid_cost']:.4f}" if r["final_valid_cost"] is not None else "-"
            print(f"{r['id']}  {r['model']}/{r['preset']} seed {r['seed']}  {r['checkpoints']} checkpoints  "
                  f"theta_f step {r['final_step']} valid {cost}")


def _run_job(query, local: bool, desc: str) -> dict:
    """The result JSON of `query` through the job layer (Celery when REDIS_URL is set, unless
    --local), with a progress bar of chunks on stderr."""
    from compute.jobs import get_jobs, run_job

    jobs = get_jobs(local=local)
    bar, update = _progress_bar(desc, unit="chunk")
    try:
        return run_job(query, jobs, update)
    except KeyboardInterrupt:
        if jobs.__class__.__name__ == "LocalJobs":  # ours alone; a shared Celery job may have other askers
            jobs.cancel(query.key())
        raise
    finally:
        bar.close()


def cmd_line(args) -> None:
    from compute.queries import LineQuery, resolve
    from compute.results import LineResult
    from compute.store import Store

    store = Store()
    query = resolve(LineQuery.from_args(args.start, args.end, args.alpha, args.points, args.splits, args.dtype,
                                        args.dropout_samples), store)
    _emit(LineResult.from_json(_run_job(query, args.local, "line")), args.format, args.out)


def cmd_trajectory(args) -> None:
    from compute.queries import TrajectoryQuery, resolve
    from compute.results import TrajectoryResult
    from compute.store import Store

    query = resolve(TrajectoryQuery(args.run), Store())
    _emit(TrajectoryResult.from_json(_run_job(query, args.local, "trajectory")), args.format, args.out)


def cmd_surface(args) -> None:
    from compute.queries import SurfaceQuery, resolve
    from compute.store import Store
    from compute.surface_results import SurfaceResult

    query = resolve(SurfaceQuery.from_args(args.run, args.kind, args.alpha, args.beta, args.points, args.splits,
                                           args.dtype, args.seed, args.scale, args.normalization), Store())
    _emit(SurfaceResult.from_json(_run_job(query, args.local, f"surface {args.kind}")), args.format, args.out)


def cmd_control(args) -> None:
    from compute.queries import CONTROL_PARAMS, ControlQuery, resolve
    from compute.store import Store
    from compute.control_results import ControlResult

    given = tuple((name, getattr(args, name)) for name in CONTROL_PARAMS[args.experiment]
                  if getattr(args, name) is not None)
    query = resolve(ControlQuery(args.experiment, getattr(args, "run", None), given), Store())
    _emit(ControlResult.from_json(_run_job(query, args.local, args.experiment)), args.format, args.out)


def _add_control_parsers(sub) -> None:
    from compute.queries import CONTROL_PARAMS

    p = sub.add_parser("control", help="control experiments: random-walk (Fig 11), convex (12), factored (14), "
                       "scalar-lines (9, 10), extremes (7 right)")
    experiments = p.add_subparsers(dest="experiment", required=True, parser_class=_Parser)
    for name, schema in CONTROL_PARAMS.items():
        e = experiments.add_parser(name)
        if name == "extremes":
            e.add_argument("run")
        for param, (_, default) in schema.items():
            flag = f"--{param.replace('_', '-')}"
            e.add_argument(flag, dest=param, help=f"default {default}"
                           + (f"; negative: {flag}=-1:1" if isinstance(default, str) and ":" in default else ""))
        e.add_argument("--format", choices=["json", "csv"], default="json",
                       help="json (every array) or csv (the main table, long format)")
        e.add_argument("--out", help="write to FILE instead of stdout")
        e.add_argument("--local", action="store_true", help="compute in this process even when REDIS_URL is set")
        e.set_defaults(func=cmd_control)


def cmd_worker(args) -> None:
    from compute.settings import redis_url
    from models.errors import BadInput
    from compute.worker import run

    url = redis_url()
    if not url:
        raise BadInput("a worker needs REDIS_URL (e.g. redis://127.0.0.1:6379/0): it takes its tasks from there",
                       field="REDIS_URL")
    run(url, args.concurrency, args.pool, args.threads, args.hostname, args.loglevel)


def cmd_serve(args) -> None:
    from app.server import serve

    serve(host=args.host, port=args.port, demo=args.demo)


def cmd_download(args) -> None:
    from models.download import download

    files = download(args.dataset, args.data, log=lambda m: print(m, file=sys.stderr))
    print(f"{args.dataset}: {len(files)} file(s) checked in {Path(args.data).resolve()}; "
          f"use --data {args.data}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="landscape", description="Exact neural-network cost landscapes "
                     "(Goodfellow, Vinyals & Saxe, ICLR 2015).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("models", help="list model ids and presets")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("train", help="train a model and record the run; prints the run id last")
    p.add_argument("model")
    p.add_argument("--preset", default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="folder with the real data files (default: offline demo data)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list recorded runs")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("line", help="exact cost along the line between two endpoints")
    p.add_argument("--from", dest="start", required=True, help="init:RUN, final:RUN, step:RUN:T, random:SEED[:SCALE]")
    p.add_argument("--to", dest="end", required=True)
    p.add_argument("--alpha", default="0:1", help="range A:B (default 0:1)")
    p.add_argument("--points", default="50", help="2 to 2001 (default 50)")
    p.add_argument("--splits", default="train,valid")
    p.add_argument("--dtype", default="float32", help="float32 (default, exact), float64, bfloat16 (preview)")
    p.add_argument("--dropout-samples", default="0", metavar="N",
                   help="0 (default): the cost with dropout off, weights scaled, as in the paper; N > 0: a "
                        "Monte-Carlo estimate with dropout on, the mean of N passes (models with dropout)")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", help="write to FILE instead of stdout")
    p.add_argument("--local", action="store_true", help="compute in this process even when REDIS_URL is set")
    p.set_defaults(func=cmd_line)

    p = sub.add_parser("trajectory", help="alpha(t), beta(t) and the learning curve of a run")
    p.add_argument("run")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out")
    p.add_argument("--local", action="store_true", help="compute in this process even when REDIS_URL is set")
    p.set_defaults(func=cmd_trajectory)

    p = sub.add_parser("surface", help="cost surface of a run with its trajectory on it (Figs 15-22)")
    p.add_argument("run")
    p.add_argument("--kind", default="paper", help="paper (default; rows along the residual directions, "
                   "appendix C), random-plane (Fig 21), alpha-random (Fig 22)")
    p.add_argument("--alpha", help="range A:B (default: fitted to the trajectory); negative: --alpha=-1:1")
    p.add_argument("--beta", help="range B0:B1 (default: fitted to the trajectory); negative: --beta=-1:1")
    p.add_argument("--points", default="41x41", help="NxM rows (alpha) x columns (beta), 2..201 each (default 41x41)")
    p.add_argument("--splits", default="train")
    p.add_argument("--dtype", default="float32", help="float32 (default, exact), float64, bfloat16 (preview)")
    p.add_argument("--seed", help="random directions' seed (random-plane, alpha-random; default 0)")
    p.add_argument("--scale", help="random-plane: direction norm (default ||theta_f - theta_i||), or with "
                   "--normalization filter a factor on theta_f's filter norms (default 1)")
    p.add_argument("--normalization", help="random-plane: global (default) or filter (Li et al. 2018)")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", help="write to FILE instead of stdout")
    p.add_argument("--local", action="store_true", help="compute in this process even when REDIS_URL is set")
    p.set_defaults(func=cmd_surface)

    _add_control_parsers(sub)

    p = sub.add_parser("worker", help="run a Celery worker for REDIS_URL's queue (one per GPU, or the CPU)")
    p.add_argument("--concurrency", type=int, default=1, help="pool processes per worker (default 1)")
    p.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    p.add_argument("--threads", type=int, help="torch threads per pool process (default: torch's)")
    p.add_argument("--hostname", help="worker name, e.g. w1@%%h (default celery@%%h)")
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("serve", help="serve the dashboard")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--demo", action="store_true", help="train the demo runs first if they are missing")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("download", help="fetch a dataset's real files, check their digests, unpack "
                       "(never done implicitly)")
    p.add_argument("dataset", choices=["mnist", "cifar10", "ptb"])
    p.add_argument("--data", required=True, help="folder to put the files in (then pass it as --data)")
    p.set_defaults(func=cmd_download)
    return parser


_RANGE_FLAGS = ("--alpha", "--beta", "--w1", "--w2")


def _join_negative_ranges(argv: list[str]) -> list[str]:
    """`--alpha -1:1` -> `--alpha=-1:1`: argparse would read a range starting with '-' as a flag."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in _RANGE_FLAGS and i + 1 < len(argv) and argv[i + 1].startswith("-") and ":" in argv[i + 1]:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    from models.errors import BadInput

    args = build_parser().parse_args(_join_negative_ranges(sys.argv[1:] if argv is None else list(argv)))
    try:
        args.func(args)
    except BadInput as exc:
        print(f"landscape: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("landscape: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
