"""`landscape` — the command line. Results on stdout (JSON or CSV), progress on stderr, and
exit status 2 with one clear line for bad input.

    landscape models
    landscape train relu-mnist --preset small --seed 0
    landscape runs
    landscape line --from init:RUN --to final:RUN --alpha 0:1 --points 50 --format json
    landscape trajectory RUN --format csv
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


def _progress_bar(desc: str):
    bar = tqdm(total=0, desc=desc, unit="pt", file=sys.stderr, leave=False, disable=None)

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


def cmd_line(args) -> None:
    from compute.jobs import execute
    from compute.queries import LineQuery, resolve
    from compute.store import Store

    store = Store()
    query = resolve(LineQuery.from_args(args.start, args.end, args.alpha, args.points, args.splits, args.dtype),
                    store)
    bar, update = _progress_bar("line")
    try:
        result = execute(query, store, update)
    finally:
        bar.close()
    _emit(result, args.format, args.out)


def cmd_trajectory(args) -> None:
    from compute.jobs import execute
    from compute.queries import TrajectoryQuery, resolve
    from compute.store import Store

    store = Store()
    _emit(execute(resolve(TrajectoryQuery(args.run), store), store), args.format, args.out)


def cmd_serve(args) -> None:
    from app.server import serve

    serve(host=args.host, port=args.port, demo=args.demo)


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
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", help="write to FILE instead of stdout")
    p.set_defaults(func=cmd_line)

    p = sub.add_parser("trajectory", help="alpha(t), beta(t) and the learning curve of a run")
    p.add_argument("run")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out")
    p.set_defaults(func=cmd_trajectory)

    p = sub.add_parser("serve", help="serve the dashboard")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8050)
    p.add_argument("--demo", action="store_true", help="train the demo runs first if they are missing")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    from compute.errors import BadInput

    args = build_parser().parse_args(argv)
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
