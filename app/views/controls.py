"""Controls view (appendix D, sections 4-5): the control experiments that say how to read the
other pictures — random walks (Fig. 11), convex gradient descent (Fig. 12), the factored model's
cost (1 − w₁w₂)² with its SGD path (Fig. 14), the depth-2 scalar model's lines (Figs 9, 10) and,
for any run, the two most-travelled components of θ against the cost (Fig. 7 right).
"""

from __future__ import annotations

from dataclasses import replace

from dash import html

from models.errors import BadInput
from compute import validate
from compute.kinds.control import CONTROL_PARAMS, ControlQuery, ControlResult

from .. import params, widgets
from ..figures.controls import controls_figure
from ..figures.style import message_figure
from ..jobclient import Outcome
from ..params import Param
from ..runs import RunCatalog
from .line import no_run
from .base import View, export_result

NAME = "controls"
EXPERIMENTS = {"random-walk": "random walks (Fig. 11)", "convex": "convex quadratic, GD (Fig. 12)",
               "factored": "factored model (1 − w₁w₂)² (Fig. 14)", "scalar-lines": "scalar model lines (Figs 9, 10)",
               "extremes": "extreme components of a run (Fig. 7 right)"}
# URL parameter -> (experiment, the experiment's parameter, form label)
FIELDS = {"dims": ("random-walk", "dims", "Dimensions d"), "seeds": ("random-walk", "seeds", "Seeds"),
          "cdim": ("convex", "dim", "Dimensions"), "lrs": ("convex", "lrs", "Learning rates ε"),
          "momenta": ("convex", "momenta", "Momenta μ"),
          "w1": ("factored", "w1", "w₁ window"), "w2": ("factored", "w2", "w₂ window"),
          "solutions": ("scalar-lines", "solutions", "Solutions (a, 1/a), (b, 1/b): a,b"),
          "rscale": ("scalar-lines", "random_scale", "Random point: scale")}
EXP = params.choice("exp", EXPERIMENTS, "random-walk")


def _field_param(name: str, experiment: str, param: str) -> Param:
    parser, default = CONTROL_PARAMS[experiment][param]
    is_range = name in ("w1", "w2")

    def fmt(value) -> str:
        if is_range:
            return validate.format_range(value)
        if isinstance(value, (tuple, list)):
            return ",".join(validate.format_number(v) if isinstance(v, float) else str(v) for v in value)
        return validate.format_number(value) if isinstance(value, float) else str(value)

    # compute.kinds.control's parsers are the ones that say what a parameter may be (field: the URL name)
    def parse(text: str, state: dict, catalog: RunCatalog):
        try:
            return parser(text, name)
        except BadInput as exc:
            raise BadInput(exc.message, field=name) from None

    return Param(name, parse, fmt, lambda s, c: parser(default, name),
                 relevant=lambda s: s.get("exp") == experiment)


FIELD_PARAMS = tuple(_field_param(name, exp, param) for name, (exp, param, _) in FIELDS.items())
XRUN = replace(params.RUN, name="xrun", relevant=lambda s: s.get("exp") == "extremes", help="the run of Fig. 7 right")


def queries(state: dict, catalog: RunCatalog) -> dict[str, ControlQuery]:
    exp = state["exp"]
    params = tuple((param, state[name]) for name, (e, param, _) in FIELDS.items() if e == exp)
    run = None
    if exp == "extremes":
        if catalog.get(state.get("xrun")) is None:
            raise no_run("xrun")
        run = state["xrun"]
    return {"control": ControlQuery(exp, run, params)}


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    out = outcomes.get("control")
    if out is None or not out.ready:
        text = "" if out is None else (f"the job failed<br>{out.error}" if out.state == "failed"
                                       else "computing the experiment…")
        return {"control": message_figure(text, height=520)}
    return {"control": controls_figure(out.result)}


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    labels = {name: label for name, (_, _, label) in FIELDS.items()}
    controls = html.Div([
        form.radio(EXP, "Experiment"),
        *[form.text(param, labels[param.name]) for param in FIELD_PARAMS],
        form.dropdown(XRUN, "Run", placeholder="no runs yet"),
        html.Div("Controls are reminders of how to read the other pictures: in high dimension the α–β curve "
                 "of almost any path has the same shape (Figs 11, 12), and a random plane shows little of "
                 "the cost's variation (Fig. 21).", className="field-hint explain"),
    ], className="controls")
    main = html.Div([widgets.graph(v, "control", "landscape-control", height=620), widgets.export_links(v)],
                    className="main")
    return html.Div([controls, main], className="view-grid")


VIEW = View(NAME, "Controls", (EXP, *FIELD_PARAMS, XRUN), layout, queries, draw,
            export_result("control", ControlResult), None,
            "control experiments: random walks, convex GD, the factored model, scalar lines, Fig. 7 right")
