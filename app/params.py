"""The URL parameters the views share, as plain values (`RUN`, `PAIR`, `ALPHA`, ...).

A `Param` is one URL parameter and its form control. A view lists the `Param` objects it uses
(app/views/); a view's own parameters are defined in its module beside it. The table of every
parameter by name is built from the views in app/views/__init__.py, and app/urls.py reads and
writes addresses over it. A value's text form is the same in the address and in its form
control, so the form is validated by the very parsers that validate addresses (compute/validate.py),
which raise BadInput with a field and a message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from models.errors import BadInput
from compute import validate
from compute.queries import check_bn, check_dropout

from .fields import LINE_FIELDS
from .labels import METRIC_LABELS, SPLIT_NAMES
from .runs import RunCatalog

State = dict  # {"view": str, param name: value}


def _always(state: State) -> bool:
    return True


@dataclass(frozen=True)
class Param:
    """One URL parameter and form control.

    parse(text, state, catalog) -> value, raising BadInput; `state` holds the params parsed before
    this one (a view lists `run` before the params that depend on it).
    """

    name: str
    parse: Callable[[str, State, RunCatalog], Any]
    format: Callable[[Any], str]
    default: Callable[[State, RunCatalog], Any]
    relevant: Callable[[State], bool] = _always  # shown and written to the URL only when true
    options: Callable[[State, RunCatalog], list[dict]] | None = None  # for choice controls
    multi: bool = False  # the control's value is a list (checklist, multi-select)
    help: str = ""
    # whether the form shows the control for this run (e.g. dropout samples only for a model with
    # dropout); the address keeps what `relevant` says either way
    applies: Callable[[State, RunCatalog], bool] | None = None

    def shown(self, state: State, catalog: RunCatalog) -> bool:
        return self.relevant(state) and (self.applies is None or self.applies(state, catalog))

    def control_value(self, value: Any) -> Any:
        """A value as its form control holds it (a list for multi controls, text otherwise)."""
        text = self.format(value)
        if self.multi:
            return [t for t in text.split(",") if t]
        return text


def control_text(control_value: Any) -> str:
    """What a form control holds, as the text its parameter parses."""
    if isinstance(control_value, (list, tuple)):
        return ",".join(str(v) for v in control_value)
    if isinstance(control_value, float) and math.isfinite(control_value):
        return validate.format_number(control_value)
    return "" if control_value is None else str(control_value)


def dump_state(state: State) -> str:
    """A state as JSON text, for a dcc.Store. Text, so that the browser hands back exactly these
    values (as JSON numbers, JavaScript would turn the float 1.0 into the integer 1)."""
    return json.dumps(state, separators=(",", ":"))


def load_state(text: str) -> State:
    """The state `dump_state` wrote: lists back to the tuples they were. No parsing: the state
    was made from an address or a form and validated then."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def choice_options(choices: dict[str, str]) -> Callable[[State, RunCatalog], list[dict]]:
    return lambda state, catalog: [{"label": rich(label), "value": value} for value, label in choices.items()]


def rich(text: str):
    """Text for the page with θ_f written as θ with a real subscript f (Unicode has no subscript f)."""
    if "θ_f" not in text:
        return text
    from dash import html

    out: list = []
    for i, part in enumerate(text.split("θ_f")):
        if i:
            out += ["θ", html.Sub("f")]
        if part:
            out.append(part)
    return html.Span(out)


def choice(name: str, choices: dict[str, str], default: str, relevant: Callable[[State], bool] = _always,
           help: str = "") -> Param:
    """A parameter that is one of `choices` ({value: label}), a radio or dropdown control."""
    return Param(name, lambda text, state, catalog: validate.parse_choice(text, name, choices), _text,
                 lambda state, catalog: default, relevant=relevant, options=choice_options(choices), help=help)


def optional_range(name: str, help: str, relevant: Callable[[State], bool] = _always) -> Param:
    """A range A:B, or empty for none."""
    return Param(name, lambda text, state, catalog: validate.parse_optional_range(text, name), validate.format_range,
                 lambda state, catalog: None, relevant=relevant, help=help)


def _uses_pair(pair: str) -> Callable[[State], bool]:
    return lambda state: state.get("pair") == pair


# --- the parameters shared by the line, trajectory and compare views -----------------------------

def _parse_run(text: str, state: State, catalog: RunCatalog) -> str:
    return catalog.lookup(str(text).strip(), "run").id


def _run_options(state: State, catalog: RunCatalog) -> list[dict]:
    ordered = sorted(catalog.runs, key=lambda r: (r.model, r.preset, r.seed))
    return [{"label": r.label, "value": r.id} for r in ordered]


def _run_default(state: State, catalog: RunCatalog) -> str | None:
    run = catalog.default_run()
    return run.id if run else None


RUN = Param("run", _parse_run, _text, _run_default, options=_run_options,
            help="the run: full id or a unique prefix such as relu-mnist-small-s0")

PAIRS = {"init": "init → final", "seeds": "final → final of two seeds", "random": "random → final",
         "step": "step t → final"}
PAIR = choice("pair", PAIRS, "init",
              help="endpoint pair: init (θ_i→θ_f), seeds (θ_f→θ_f of another seed), random, step")


def _parse_other(text: str, state: State, catalog: RunCatalog) -> str:
    other, run = catalog.lookup(str(text).strip(), "other"), catalog.get(state.get("run"))
    if run is not None and other.family != run.family:
        raise BadInput(f"{other.label} is not the same model as {run.label}", field="other")
    if other.id == state.get("run"):
        raise BadInput("pick a different seed than the first run", field="other")
    return other.id


def _other_default(state: State, catalog: RunCatalog) -> str | None:
    siblings = catalog.siblings(state.get("run"))
    return siblings[0].id if siblings else None


OTHER = Param("other", _parse_other, _text, _other_default, relevant=_uses_pair("seeds"),
              options=lambda s, c: [{"label": r.label, "value": r.id} for r in c.siblings(s.get("run"))],
              help="the second run of a final→final pair (same model, another seed)")


def _parse_step(text: str, state: State, catalog: RunCatalog) -> int:
    step = validate.parse_int(text, "step", minimum=0)
    run = catalog.get(state.get("run"))
    if run is not None and step not in run.steps:
        shown = ", ".join(map(str, run.steps[:8])) + (", …" if len(run.steps) > 8 else "")
        raise BadInput(f"the run has no checkpoint at step {step} (recorded: {shown})", field="step")
    return step


def _step_default(state: State, catalog: RunCatalog) -> int | None:
    run = catalog.get(state.get("run"))
    return run.steps[len(run.steps) // 2] if run else None


def _step_options(state: State, catalog: RunCatalog) -> list[dict]:
    run = catalog.get(state.get("run"))
    if run is None:
        return []
    return [{"label": f"t = {s} (epoch {e:g})", "value": str(s)} for s, e in zip(run.steps, run.epochs)]


STEP = Param("step", _parse_step, _text, _step_default, relevant=_uses_pair("step"), options=_step_options,
             help="the checkpoint θ(t) of a step→final pair")
RSEED = Param("rseed", lambda t, s, c: validate.parse_seed(t, "rseed"), _text, lambda s, c: 0,
              relevant=_uses_pair("random"), help="seed of the random point")


def _parse_scale(text: str, state: State, catalog: RunCatalog) -> float:
    # compute's parser of a random endpoint's scale is the one that says what it may be
    return validate.parse_random_scale(str(text).strip(), "scale")


SCALE = Param("scale", _parse_scale, validate.format_number, lambda s, c: 1.0, relevant=_uses_pair("random"),
              help="the random point is the initializer's draw times this (10 or more: large norm, Fig. 5)")
ALPHA = Param(LINE_FIELDS.url("alpha_min"),
              lambda t, s, c: validate.parse_range(t, "alpha"), validate.format_range, lambda s, c: (-0.25, 1.25),
              help="α range A:B (may extend below 0 and above 1)")
POINTS = Param(LINE_FIELDS.url("points"),
               lambda t, s, c: validate.parse_line_points(t, "points"), _text, lambda s, c: 50,
               help="α values per curve, 2 to 2001, or auto (adaptive: dense only where the curve bends)")


def _parse_dropout(text: str, state: State, catalog: RunCatalog) -> int:
    samples = validate.parse_dropout_samples(str(text).strip() or 0, "dropout")
    run = catalog.get(state.get("run"))
    if run is not None:  # compute's rule, the one resolve applies (CLI, API, jobs)
        check_dropout(samples, run.dropout, f"{run.model}/{run.preset}", "dropout")
    return samples


def _run_has(flag: str) -> Callable[[State, RunCatalog], bool]:
    def applies(state: State, catalog: RunCatalog) -> bool:
        run = catalog.get(state.get("run"))
        return run is not None and bool(getattr(run, flag))
    return applies


DROPOUT = Param(LINE_FIELDS.url("dropout_samples"), _parse_dropout, lambda n: str(n) if n else "", lambda s, c: 0,
                help="0 or empty: dropout off, weights scaled (the paper's J); N: a Monte-Carlo estimate "
                     "with dropout on, the mean of N passes (models with dropout)", applies=_run_has("dropout"))


def _parse_bn(text: str, state: State, catalog: RunCatalog) -> str:
    policy = validate.parse_bn(str(text).strip() or validate.DEFAULT_BN, "bn")
    run = catalog.get(state.get("run"))
    if run is not None:  # compute's rule, the one resolve applies (CLI, API, jobs)
        check_bn(policy, run.batchnorm, f"{run.model}/{run.preset}", "bn")
    return policy


BN = Param(LINE_FIELDS.url("bn"),
           _parse_bn, lambda p: "" if p == validate.DEFAULT_BN else p, lambda s, c: validate.DEFAULT_BN,
           # the default's control value is "" (its text in the address, which leaves it out)
           options=choice_options({"": "interpolate (mixed like θ)", "recompute": "recompute on the training split"}),
           help="BatchNorm statistics between checkpoints: interpolate (mixed with the same α) or recompute "
                "(re-estimated at every point by a pass over the training split; honest, slower)",
           applies=_run_has("batchnorm"))
DTYPE = Param(LINE_FIELDS.url("dtype"),
              lambda t, s, c: validate.parse_dtype(str(t).strip() or validate.DEFAULT_DTYPE, "dtype"),
              lambda d: "" if d == validate.DEFAULT_DTYPE else d, lambda s, c: validate.DEFAULT_DTYPE,
              # the default's control value is "" (the address leaves it out, and so does the key)
              options=choice_options({"": "float32 (exact)", "bfloat16": "bfloat16 (preview)",
                                      "float16": "float16 (preview)"}),
              help="the forward's precision: float32 (default, exact), or bfloat16 / float16 (a faster preview "
                   "on hardware that has them; totals in float64, the error against float32 in the result's meta)")


def precision_note(dtype: str, precision_error: float | None = None) -> str:
    """' · bfloat16 forward (|ΔJ| ≤ 0.0016 against float32)' in a figure's title; '' in float32."""
    if dtype == validate.DEFAULT_DTYPE:
        return ""
    error = f", |ΔJ| ≤ {precision_error:.2g} against float32" if precision_error is not None else ""
    return f" · {dtype} forward{error}"


SPLITS = Param(LINE_FIELDS.url("splits"),
               lambda t, s, c: validate.parse_splits(t, "splits"), ",".join, lambda s, c: ("train", "valid"),
               options=choice_options(SPLIT_NAMES), multi=True, help="splits drawn, e.g. train,valid")
METRIC = choice("metric", METRIC_LABELS, "cost", help="cost (the objective) or error (misclassification rate)")
# the y scale's default depends on the view: log for compare (Fig. 3)
Y = Param("y", lambda t, s, c: validate.parse_choice(t, "y", ("linear", "log")), _text,
          lambda s, c: "log" if s.get("view") == "compare" else "linear",
          options=choice_options({"linear": "linear", "log": "log"}), help="y axis scale")
ZOOM = optional_range("zoom", "α window recomputed at full resolution, A:B (empty: no zoom)")

MAX_COMPARE = 10


def _parse_runs(text: str, state: State, catalog: RunCatalog) -> tuple[str, ...]:
    refs = [r.strip() for r in str(text).split(",") if r.strip()]
    if not refs:
        raise BadInput("pick at least one run", field="runs")
    if len(refs) > MAX_COMPARE:
        raise BadInput(f"at most {MAX_COMPARE} runs, got {len(refs)}", field="runs")
    found = [catalog.find(r) for r in refs]
    unknown = [r for r, f in zip(refs, found) if f is None]
    if unknown:
        raise BadInput(f"unknown run{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}", field="runs")
    return tuple(dict.fromkeys(f.id for f in found))  # order kept, duplicates dropped


RUNS = Param("runs", _parse_runs, ",".join, lambda s, c: tuple(r.id for r in c.one_per_model()),
             options=_run_options, multi=True, help="runs compared (init→final of each)")


# --- the Line view's options: derivatives, the aligned line, the adaptive grid's tolerance ---------------
def _flag(name: str, relevant: Callable[[State], bool] = _always, help: str = "", on: str = "on",
          applies: Callable[[State, RunCatalog], bool] | None = None) -> Param:
    """An on/off parameter: 1 in the address when on, left out when off (its control value "")."""
    return Param(name, lambda text, state, catalog: validate.parse_flag(text, name), lambda v: "1" if v else "",
                 lambda state, catalog: False, relevant=relevant, options=choice_options({"": "off", "1": on}),
                 help=help, applies=applies)


DERIVATIVES = _flag(LINE_FIELDS.url("derivatives"),
                    help="1: also dJ/dα and d²J/dα² at every point, exactly (the line fast path, or double backward "
                         "along θ₁ − θ₀), drawn under the curve")
ALIGN = _flag("align", relevant=_uses_pair("seeds"), on="aligned and not, on one axis",
              help="1: also the line to the second solution with its hidden units permuted to match the first "
                   "(weight matching), both barriers beside")
TOLERANCE = Param(LINE_FIELDS.url("tolerance"), lambda t, s, c: validate.parse_tolerance(t, "tolerance"),
                  validate.format_number,
                  lambda s, c: validate.DEFAULT_TOLERANCE, relevant=lambda s: s.get("points") == validate.AUTO_POINTS,
                  help="points=auto: refine until linear interpolation is within this share of the curve's range")
