"""Curvature view (`/curvature`): the Hessian's spectrum at a run's point — the density on a
symmetric-log axis with the top eigenvalues marked and the trace ± its error, and the Lanczos
convergence — from one `HessianQuery` (compute/kinds/hessian.py). Its twin: /api/curvature.json|csv, also
answered at /api/hessian.json|csv.
"""

from __future__ import annotations

from dash import html

from compute import validate
from compute.kinds.hessian import HessianQuery, HessianResult
from compute.queries import Endpoint
from models.errors import BadInput

from .. import params, widgets
from ..figures.curvature import convergence_figure, density_figure
from ..figures.style import NOTE_CHARACTERS, message_figure, note, wrap
from ..labels import point_name
from ..jobclient import Outcome
from ..runs import RunCatalog
from .base import View, export_result
from .line import empty_text, no_run

NAME = "curvature"
GRAPHS = ("spectrum", "convergence")

POINT = params.choice("point", {"final": "θ_f (final)", "init": "θᵢ (init)", "step": "a checkpoint θ(t)"}, "final",
                      help="where the Hessian is taken: final, init, or step (with t)")


def _parse_t(text: str, state: dict, catalog: RunCatalog) -> int:
    step = validate.parse_int(text, "t", minimum=0)
    run = catalog.get(state.get("run"))
    if run is not None and step not in run.steps:
        raise BadInput(f"the run has no checkpoint at step {step}", field="t")
    return step


def _t_default(state: dict, catalog: RunCatalog) -> int | None:
    run = catalog.get(state.get("run"))
    return run.steps[len(run.steps) // 2] if run else None


T = params.Param("t", _parse_t, lambda v: "" if v is None else str(v), _t_default,
                 relevant=lambda state: state.get("point") == "step",
                 options=lambda s, c: [{"label": f"t = {t}", "value": str(t)}
                                       for t in (c.get(s.get("run")).steps if c.get(s.get("run")) else [])],
                 help="the checkpoint where the Hessian is taken (point=step)")
TOP = params.Param("top", lambda t, s, c: validate.parse_int(t, "top", 0, 20, what="top"), str, lambda s, c: 3,
                   help="the largest eigenvalues found by Lanczos, 0 to 20")
BOTTOM = params.Param("bottom", lambda t, s, c: validate.parse_int(t, "bottom", 0, 20, what="bottom"), str,
                      lambda s, c: 0, help="the most negative eigenvalues, 0 to 20")
TRACE = params.choice("trace", {"1": "Hutchinson, 30 probes", "0": "off"}, "1", help="1: the trace ± its error")
DENSITY = params.choice("density", {"1": "SLQ, 3 probes × 30 steps", "0": "off"}, "1",
                        help="1: the spectral density by stochastic Lanczos quadrature")


def _at(state: dict, catalog: RunCatalog) -> Endpoint:
    """The point, built from the state's parsed values (no text to parse again)."""
    run = catalog.get(state.get("run"))
    if run is None:
        raise no_run()
    if state["point"] == "step":
        return Endpoint("step", run=run.id, step=state["t"])
    return Endpoint(state["point"], run=run.id)


def queries(state: dict, catalog: RunCatalog) -> dict[str, HessianQuery]:
    return {"hessian": HessianQuery(_at(state, catalog), top=state["top"], bottom=state["bottom"],
                                    trace=state["trace"] == "1", density=state["density"] == "1",
                                    splits=state["splits"], density_probes=3, density_steps=30)}


def _summary(result: HessianResult) -> str:
    parts = []
    for s, r in result.splits.items():
        eigen = r.get("eigen")
        if eigen:
            top = ", ".join(f"{v:.4g}" for v in eigen["top"]["values"] if v is not None)
            state = "converged" if eigen["converged"] else "NOT converged"
            parts.append(f"{s}: λ = {top} ({eigen['iterations']} Lanczos steps, {state})")
        if r.get("trace"):
            parts.append(f"{s}: tr H = {r['trace']['value']:.4g} ± {r['trace']['standard_error']:.2g}")
    return "; ".join(parts)


def draw(state: dict, catalog: RunCatalog, outcomes: dict[str, Outcome]) -> dict:
    if not catalog.runs:
        return {g: message_figure(empty_text() if g == "spectrum" else "", height=400) for g in GRAPHS}
    out = outcomes.get("hessian")
    if out is None or not out.ready:
        text = "" if out is None else (f"the job failed<br>{out.error}" if out.state == "failed"
                                       else "computing the Hessian's spectrum (Hessian-vector products)…")
        return {g: message_figure(text if g == "spectrum" else "", height=400) for g in GRAPHS}
    result = out.read(HessianResult)
    # a result is drawn only for a query made: its run and point are the state's
    title = f"{catalog.get(state['run']).label}: Hessian spectrum at {point_name(_at(state, catalog))}"
    # the summary under the plot (a title's <br> left its first word on the title's line)
    spectrum, summary = density_figure(result, title=title), _summary(result)
    return {"spectrum": note(spectrum, wrap(summary, NOTE_CHARACTERS)) if summary else spectrum,
            "convergence": convergence_figure(result, title="Lanczos convergence")}


def layout(state: dict, catalog: RunCatalog) -> html.Div:
    v, form = NAME, widgets.Form(NAME, state, catalog)
    controls = html.Div([
        form.dropdown(params.RUN, "Run", placeholder="no runs yet"),
        form.radio(POINT, "Point"),
        form.dropdown(T, "Checkpoint t"),
        form.text(TOP, "Top eigenvalues"),
        form.text(BOTTOM, "Most negative eigenvalues"),
        form.radio(TRACE, "Trace", inline=True),
        form.radio(DENSITY, "Density", inline=True),
        form.checklist(params.SPLITS, "Splits"),
        html.Div("The Hessian of the whole-split cost J in eval mode, never formed: Lanczos with full "
                 "reorthogonalisation on exact Hessian-vector products (double backward).",
                 className="field-hint explain"),
    ], className="controls")
    main = html.Div([
        widgets.graph(v, "spectrum", "landscape-hessian-spectrum", height=420),
        widgets.graph(v, "convergence", "landscape-lanczos", height=360),
        widgets.export_links(v),
    ], className="main")
    return html.Div([controls, main], className="view-grid")


VIEW = View(NAME, "Curvature", (params.RUN, POINT, T, TOP, BOTTOM, TRACE, DENSITY, params.SPLITS), layout, queries,
            draw, export_result("hessian", HessianResult), None,
            "the Hessian's spectrum at a point: top eigenvalues, trace, density")
