"""`/help`: the glossary of the terms the pages use (each with an anchor, `/help#barrier`, which the
views' hovers and hints link to), and, for the view on screen (`/help?for=<its address>`, the nav's
Help link), the CLI command that computes the same thing (the view's `cli`, app/views/base.py)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from dash import dcc, html

from ..runs import RunCatalog

# (anchor, term, definition): the order a reader meets them
GLOSSARY: tuple[tuple[str, str, str], ...] = (
    ("theta", "θ", "All of a model's parameters as one flat vector, in a fixed order recorded with the run."),
    ("theta-i", "θᵢ (init)", "The parameters at initialization: step 0 of the run."),
    ("theta-f", "θf (final)", "The solution: the checkpoint with the lowest validation cost (early stopping), "
                              "not necessarily the last step."),
    ("cost", "J(θ)", "The total cost over a whole split (train, validation or test), never a minibatch "
                     "estimate; dropout off and weights scaled, unless dropout samples are asked for."),
    ("alpha", "α", "On Line, Compare and Surface: the fraction of the way along the line, θ = (1 − α)θ₀ + αθ₁ "
                   "(0 at θ₀, 1 at θ₁; outside [0, 1] the line goes on). On Trajectory: α(t) = (θ(t) − θᵢ)·u "
                   "with u the unit vector from θᵢ to θf, a distance in parameter space (0 to ‖θf − θᵢ‖)."),
    ("beta", "β", "β(t): the distance of θ(t) from the line θᵢ → θf (the norm of the residual); on a surface, "
                  "the offset along the residual direction v(t) (paper kind) or along a random direction."),
    ("ab", "a, b", "The coordinates of a random plane through θf (Fig. 21): θ = θf + a·d₁ + b·d₂, with d₁, d₂ "
                   "random directions of the norm chosen."),
    ("barrier", "barrier", "max over α ∈ [0, 1] of J(α) − [(1 − α)J(0) + αJ(1)]: how far the curve rises above "
                           "the chord between its ends (Frankle et al. 2020). It is measured against the chord, "
                           "so a monotone curve that bends above its chord has a barrier > 0 too."),
    ("monotone", "monotone", "J never rises along α ∈ [0, 1] by more than the tolerance (1e-3 of the curve's "
                             "range); the largest rise and its α interval are given (Lucas et al. 2021)."),
    ("segment", "(segment)", "How the initial slope dJ/dα at α = 0 was found without derivatives, when α = 0 is "
                             "not a grid point: the slope of the segment of the sampled curve that contains it, "
                             "(J(α₁) − J(α₀)) / (α₁ − α₀). (forward-difference: α = 0 is a grid point, the slope "
                             "towards its right neighbour.)"),
    ("exact-interpolated", "(exact-interpolated)", "With derivatives on: the exact dJ/dα, interpolated to α = 0 "
                                                   "from the grid points either side of it ((exact): α = 0 is a "
                                                   "grid point)."),
    ("derivatives", "dJ/dα, d²J/dα²", "The exact first and second derivatives of J along the line, by "
                                      "forward-mode arithmetic (no finite differences)."),
    ("bn", "BatchNorm policies", "A point between checkpoints needs BatchNorm statistics: interpolate (mix the "
                                 "endpoints' running statistics with the same α) or recompute (re-estimate them "
                                 "at every point over the training split; slower, and honest)."),
    ("sharpness", "sharpness", "The largest eigenvalue of the Hessian of J at a point: how sharply the cost "
                               "curves in its steepest direction."),
    ("steps", "steps, epochs", "A step is one SGD update (one minibatch); an epoch is one pass over the training "
                               "split. Checkpoints are named by step; the learning curve's axis is in epochs."),
    ("random-point", "random:SEED:SCALE", "A point drawn by the architecture's own initializer with SEED, times "
                                          "SCALE: 10 or more is a point of large norm (Fig. 5)."),
    ("aligned", "aligned", "θf of the second seed with its hidden units permuted to match the first's (weight "
                           "matching): a barrier that goes away when aligned was a symmetry."),
    ("filter", "filter-wise normalization", "Each filter (row) of a random direction rescaled to the norm of "
                                            "the same filter of θf (Li et al. 2018)."),
)


def _for_view(search: str | None, catalog: RunCatalog):
    """The CLI command of the view whose address is `?for=`; None when there is none."""
    from .. import urls
    from ..views import VIEWS, commands

    target = dict(parse_qsl((search or "").lstrip("?"))).get("for")
    if not target:
        return None
    parts = urlsplit(target)
    name = urls.view_of(parts.path)
    if name is None or name not in VIEWS:
        return None
    view = VIEWS[name]
    state = urls.parse(parts.path, parts.query, catalog).state
    command = commands.of_view(view, state, catalog)
    return html.Div([
        html.H2(f"The {view.title} view on screen, from the command line"),
        html.Pre(command or f"The {view.title} view has no single CLI command.", className="cli", id="help-cli"),
        html.P(["The same numbers as the page (the same query, the same cache key). Back to ",
                dcc.Link("the view", href=target), "."], className="muted"),
    ], className="help-cli")


def layout(search: str | None, catalog: RunCatalog) -> html.Div:
    entries = []
    for anchor, term, text in GLOSSARY:
        entries += [html.Dt(term, id=anchor), html.Dd(text)]
    return html.Div([
        html.H1("Help"),
        _for_view(search, catalog) or html.P("Open Help from a view (the nav's Help link) to see the CLI "
                                             "command that computes what it shows.", className="muted"),
        html.H2("Glossary"),
        html.Dl(entries, className="glossary", id="glossary"),
    ], className="page-text", id="help-page")
