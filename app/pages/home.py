"""`/`: what Landscape is in two lines, the runs recorded, and the paper's figures — each a
thumbnail (app/assets/thumbs/, made by `python -m app.pages.thumbnails`) linking to the view that
reproduces it on a demo run (app/demo.py's runs: relu-mnist seeds 0 and 1, sigmoid-mnist,
maxout-mnist, deep-linear-mnist, scalar-linear)."""

from __future__ import annotations

from dataclasses import dataclass

from dash import dcc, html

from ..runs import RunCatalog, RunInfo

PAPER = "https://arxiv.org/abs/1412.6544"


@dataclass(frozen=True)
class Figure:
    number: int
    caption: str
    path: str  # the view: line, trajectory, compare, surface, controls
    query: str  # its query string, with {run} (and {other}) filled from the demo runs
    model: str = "relu-mnist"  # the run it is drawn on: this model's first run, else the default run


FIGURES: tuple[Figure, ...] = (
    Figure(1, "Maxout on MNIST: the line θᵢ → θ_f (left) and the learning curve", "line", "run={run}", "maxout-mnist"),
    Figure(2, "Lines of fully connected nets with different activations", "line", "run={run}", "sigmoid-mnist"),
    Figure(3, "Several models on one axis, log y", "compare", ""),
    Figure(4, "Higher resolution: α ∈ [0, .01], recomputed", "line", "run={run}&zoom=0:0.01"),
    Figure(5, "Searching for local minima: θ_f → θ_f of two seeds", "line", "run={run}&pair=seeds&other={other}"),
    Figure(6, "Convolutional maxout on CIFAR-10 (shown on a demo run unless trained)", "line", "run={run}",
           "conv-maxout-cifar10"),
    Figure(7, "MP-DBM; right: the two most-travelled components of θ", "controls", "exp=extremes&xrun={run}",
           "maxout-mnist"),
    Figure(8, "An LSTM on Penn Treebank (shown on a demo run unless trained)", "line", "run={run}", "lstm-ptb"),
    Figure(9, "Depth-2 linear regression: a small random point → a solution", "controls", "exp=scalar-lines"),
    Figure(10, "Between two solutions of deep linear regression", "controls", "exp=scalar-lines"),
    Figure(11, "Random walks: α against β in several dimensions", "controls", "exp=random-walk"),
    Figure(12, "Convex quadratic: gradient descent with several ε and μ", "controls", "exp=convex"),
    Figure(13, "How far SGD strays from the line: α(t) against β(t)", "trajectory", "run={run}", "maxout-mnist"),
    Figure(14, "The factored model's cost (1 − w₁w₂)² with an SGD path", "controls", "exp=factored"),
    Figure(15, "Deep linear model on MNIST: the α/β surface", "surface", "run={run}", "deep-linear-mnist"),
    Figure(16, "The LSTM's α/β surface (shown on a demo run unless trained)", "surface", "run={run}", "lstm-ptb"),
    Figure(17, "A feedforward net's α/β surface", "surface", "run={run}"),
    Figure(18, "Adversarially trained maxout: obstacles (demo run unless trained)", "surface", "run={run}",
           "maxout-adv-mnist"),
    Figure(19, "The same, zoomed near the end of learning", "surface", "run={run}&arange=0.8:1.05",
           "maxout-adv-mnist"),
    Figure(20, "The MP-DBM's surface: a plateau SGD avoided (demo run unless trained)", "surface", "run={run}",
           "mpdbm-mnist"),
    Figure(21, "Control: a random 2-D plane through θ_f", "surface", "run={run}&kind=random-plane"),
    Figure(22, "Control: α(t) against a random direction", "surface", "run={run}&kind=alpha-random"),
)


def run_for(catalog: RunCatalog, model: str) -> RunInfo | None:
    """The lowest-seed run of `model`, else the default run (relu-mnist/small seed 0)."""
    own = sorted((r for r in catalog.runs if r.model == model), key=lambda r: (r.preset != "small", r.seed, r.id))
    return own[0] if own else catalog.default_run()


def figure_href(fig: Figure, catalog: RunCatalog) -> str:
    run = run_for(catalog, fig.model)
    other = next(iter(catalog.siblings(run.id)), None) if run else None
    query = fig.query.format(run=run.id if run else "", other=other.id if other else "")
    query = "&".join(p for p in query.split("&") if not p.endswith("="))  # no run yet: the view's default
    return f"/{fig.path}" + (f"?{query}" if query else "")


def _card(fig: Figure, catalog: RunCatalog) -> dcc.Link:
    return dcc.Link([
        html.Img(src=f"/assets/thumbs/fig-{fig.number:02d}.svg", alt=f"Fig. {fig.number}", className="thumb",
                 width=120, height=80),
        html.Div([html.Strong(f"Fig. {fig.number}"), html.Span(" " + fig.caption.replace("θ_f", "θf"))],
                 className="figure-caption"),
    ], href=figure_href(fig, catalog), className="figure-card", id=f"fig-{fig.number}")


def layout(search: str | None, catalog: RunCatalog) -> html.Div:
    from ..demo import waiting_for_demo  # the banner's own source of what trains

    runs = sorted(catalog.runs, key=lambda r: (r.model, r.preset, r.seed))
    waiting = not runs and waiting_for_demo(catalog.trained())
    if runs:
        listing = html.Ul([html.Li([dcc.Link(r.label, href=f"/line?run={r.id}"), html.Span(f" · {r.id}",
                                                                                              className="run-id")])
                           for r in runs], className="run-list")
    elif waiting:
        listing = html.P("Waiting for the demo runs: they appear here as each finishes training.", className="muted")
    else:
        listing = html.P(["No runs yet: ", html.Code("landscape train relu-mnist"), " or ",
                          html.Code("landscape serve --demo"), "."], className="muted")
    return html.Div([
        html.H1("Landscape"),
        html.P(["The exact cost J(θ) of a neural network along straight lines and surfaces in parameter space, "
                "with the SGD trajectory on them — the method of ",
                html.A("Goodfellow, Vinyals & Saxe (ICLR 2015)", href=PAPER, target="_blank"), "."],
               className="lead"),
        html.P("Every view is an address: copy it to share; the same figure, from the cache, on any machine. "
               "Every view is also a CLI command and a JSON/CSV download.", className="lead"),
        html.H2(["Runs ", dcc.Link("(all, with their details)", href="/runs", className="small-link")]),
        listing,
        html.H2("The paper's figures"),
        html.P("Each opens the view that reproduces it on a demo run (small presets: the shapes, not the paper's "
               "numbers).", className="muted"),
        html.Div([_card(f, catalog) for f in FIGURES], className="figure-grid", id="paper-figures"),
    ], className="page-text", id="home-page")
