"""Address <-> state <-> form <-> query, pure Python: every control of the line, trajectory and
compare views survives the round trip, for many random states (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import urls
from app.params import PAIRS, dump_state, load_state
from app.labels import METRIC_LABELS
from app.runs import RunCatalog, RunInfo
from app.views import PARAMS, VIEWS
from models.errors import BadInput
from compute.queries import Endpoint
from compute.validate import MAX_DROPOUT_SAMPLES, MAX_POINTS, SPLITS


def _run(model: str, seed: int, digest: str, steps=(0, 2, 5, 10, 100, 200, 300)) -> RunInfo:
    return RunInfo(f"{model}-small-s{seed}-{digest}", model, "small", seed, tuple(steps),
                   tuple(s / 100 for s in steps), steps[-2], 0.1, dropout="dropout" in model,
                   family=f"{model}/small", batchnorm="resnet" in model)


RUNS = (_run("relu-mnist", 0, "aaaaaaaaaa"), _run("relu-mnist", 1, "bbbbbbbbbb"),
        _run("relu-mnist", 10, "cccccccccc"), _run("sigmoid-mnist", 0, "dddddddddd"),
        _run("scalar-linear", 0, "eeeeeeeeee", steps=(0, 1, 2, 3)), _run("relu-dropout-mnist", 0, "ffffffffff"),
        _run("resnet8", 0, "gggggggggg"))
CATALOG = RunCatalog(RUNS)
MY_VIEWS = ("line", "trajectory", "compare")

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def ranges(draw):
    lo, hi = draw(finite), draw(finite)
    if lo == hi:
        hi = lo + 1.0
    return (min(lo, hi), max(lo, hi))


splits = st.sets(st.sampled_from(SPLITS), min_size=1).map(lambda s: tuple(x for x in SPLITS if x in s))
runs = st.sampled_from(RUNS)


@st.composite
def line_states(draw):
    run = draw(runs)
    siblings = CATALOG.siblings(run.id)
    dropout = draw(st.integers(0, MAX_DROPOUT_SAMPLES)) if run.dropout else 0
    bn = draw(st.sampled_from(["interpolate", "recompute"])) if run.batchnorm else "interpolate"
    points = draw(st.integers(2, MAX_POINTS) | st.just("auto"))
    return {
        "view": "line", "run": run.id, "pair": draw(st.sampled_from(list(PAIRS))),
        "other": draw(st.sampled_from([s.id for s in siblings])) if siblings else None,
        "step": draw(st.sampled_from(run.steps)), "rseed": draw(st.integers(0, 2**32 - 1)),  # the documented seed range (compute.validate.MAX_SEED)
        "scale": draw(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False)),
        "alpha": draw(ranges()), "points": points, "splits": draw(splits), "dropout": dropout, "bn": bn,
        "dtype": draw(st.sampled_from(["float32", "bfloat16", "float16"])),
        "tolerance": draw(st.floats(min_value=1e-6, max_value=0.5)) if points == "auto" else 1e-3,
        # derivatives where they are defined: the eval-mode cost with interpolated statistics
        "derivatives": draw(st.booleans()) if not dropout and bn == "interpolate" else False,
        # sharpness (every N-th point) on a uniform grid of the eval-mode cost
        "sharpness": draw(st.integers(0, MAX_POINTS)) if not dropout and points != "auto" else 0,
        "align": draw(st.booleans()),
        "curve": draw(st.none() | st.just("curve-bezier-0123456789ab")),  # a recorded curve (final→final only)
        "metric": draw(st.sampled_from(list(METRIC_LABELS))), "y": draw(st.sampled_from(["linear", "log"])),
        "zoom": draw(st.none() | ranges()),
    }


@st.composite
def trajectory_states(draw):
    return {"view": "trajectory", "run": draw(runs).id, "metric": draw(st.sampled_from(list(METRIC_LABELS))),
            "y": draw(st.sampled_from(["linear", "log"]))}


@st.composite
def compare_states(draw):
    chosen = draw(st.lists(runs, min_size=1, max_size=len(RUNS), unique_by=lambda r: r.id))
    return {"view": "compare", "runs": tuple(r.id for r in chosen), "alpha": draw(ranges()),
            "points": draw(st.integers(2, MAX_POINTS)), "splits": draw(splits),
            "metric": draw(st.sampled_from(list(METRIC_LABELS))), "y": draw(st.sampled_from(["linear", "log"]))}


STATES = {"line": line_states(), "trajectory": trajectory_states(), "compare": compare_states()}
any_state = st.one_of(*STATES.values())


def relevant(state: dict) -> dict:
    return {k: v for k, v in state.items() if k == "view" or PARAMS[k].relevant(state)}


@settings(max_examples=5, deadline=None)
@given(st.data())
def test_every_param_of_these_views_has_a_strategy(data):
    # a control added to a view without a random state here would not be round-trip tested
    for view in MY_VIEWS:
        assert set(VIEWS[view].param_names) <= set(data.draw(STATES[view])), view


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_address_round_trip(state):
    href = urls.href(state)
    path, _, query = href.partition("?")
    parsed = urls.parse(path, query, CATALOG)
    assert parsed.notices == []
    assert relevant(parsed.state) == relevant(state)
    assert urls.href(parsed.state) == href  # canonical: one address per view
    # the query computed from the shared address is the very one of the original view
    assert query_keys(parsed.state) == query_keys(state)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_a_stored_state_comes_back_as_it_was(state):
    # the ADDRESS store keeps the state as JSON text: floats stay floats, tuples come back
    back = load_state(dump_state(state))
    assert back == state and all(type(back[k]) is type(v) for k, v in state.items())


def query_keys(state: dict):
    try:
        return {k: q.key() for k, q in VIEWS[state["view"]].queries(state, CATALOG).items()}
    except BadInput as exc:  # e.g. final→final of a model with one run: the same message
        return (exc.field, exc.message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_state)
def test_form_round_trip(state):
    # the form holds each value as its control does; reading the form back gives the same view
    base = urls.parse(f"/{state['view']}", "", CATALOG).state
    values = {name: urls.to_control(name, state[name]) for name in VIEWS[state["view"]].param_names
              if state.get(name) is not None}
    got, errors = urls.from_controls(base, values, set(values), CATALOG)
    assert errors == {}
    assert relevant(got) == relevant(state)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VIEWS)),
       st.dictionaries(st.sampled_from(sorted(PARAMS) + ["bogus", "α"]), st.text(max_size=12), max_size=6))
def test_any_address_opens_a_valid_view(view, garbage):
    # whatever is typed into the address bar of any view (surface and controls included): a
    # state, never an exception; its canonical address opens the same state without notices
    from urllib.parse import urlencode

    parsed = urls.parse(f"/{view}", urlencode(garbage), CATALOG)
    href = urls.href(parsed.state)
    path, _, query = href.partition("?")
    again = urls.parse(path, query, CATALOG)
    assert again.notices == []
    assert urls.href(again.state) == href


def test_notices_say_what_was_ignored():
    parsed = urls.parse("/line", "run=nope&points=99999&alpha=1:0&zoom=0:inf&bogus=1&runs=x&pair=init&step=5",
                        CATALOG)
    text = "\n".join(parsed.notices)
    assert "run='nope' ignored: unknown run 'nope'" in text
    assert "points='99999' ignored: number of points must be between 2 and 2001" in text
    assert "alpha='1:0' ignored: range '1:0' must have A < B" in text
    assert "zoom='0:inf' ignored" in text and "finite" in text
    assert "bogus ignored: unknown parameter" in text
    assert "runs ignored: not used by the line view" in text
    assert "step ignored: not used with pair=init" in text
    assert parsed.state["run"] == CATALOG.default_run().id and parsed.state["points"] == 50
    assert parsed.state["zoom"] is None

    unknown_page = urls.parse("/nowhere", "", CATALOG)
    assert unknown_page.state["view"] == "line" and "unknown page" in unknown_page.notices[0]


def test_strict_parsing_raises_the_boundary_error():
    with pytest.raises(BadInput) as info:
        urls.parse("/line", "points=1", CATALOG, strict=True)
    assert info.value.field == "points" and "between 2 and 2001" in info.value.message
    with pytest.raises(BadInput) as info:
        urls.parse("/compare", "runs=relu-mnist-small-s0,ghost", CATALOG, strict=True)
    assert info.value.field == "runs" and "ghost" in info.value.message


def test_cross_field_checks():
    relu0, relu1, sigmoid = RUNS[0].id, RUNS[1].id, RUNS[3].id
    parsed = urls.parse("/line", f"run={relu0}&pair=seeds&other={sigmoid}", CATALOG)
    assert parsed.state["other"] == relu1  # not the same model: the first other seed instead
    assert "not the same model" in parsed.notices[0]
    parsed = urls.parse("/line", f"run={relu0}&pair=step&step=7", CATALOG)
    assert parsed.state["step"] in RUNS[0].steps and "no checkpoint at step 7" in parsed.notices[0]
    # a run named by model, preset and seed: -s1 is not -s10
    assert urls.parse("/line", "run=relu-mnist-small-s1", CATALOG).state["run"] == relu1
    assert urls.parse("/line", "run=relu-mnist-small-s10", CATALOG).state["run"] == RUNS[2].id


def test_form_errors_name_the_edited_field_and_keep_the_address_value():
    base = urls.parse("/line", "alpha=0:1&points=30", CATALOG).state
    state, errors = urls.from_controls(base, {"alpha": "2:1", "points": "3000"}, {"alpha"}, CATALOG)
    assert errors == {"alpha": "range '2:1' must have A < B"}  # points was not edited just now
    assert state["alpha"] == (0.0, 1.0) and state["points"] == 30
    state, errors = urls.from_controls(base, {"scale": "-1", "pair": "random"}, {"scale"}, CATALOG)
    assert "scale must be in (0, 1000000]" in errors["scale"] and state["scale"] == 1.0


def test_line_queries_follow_the_pair():
    relu0, relu1 = RUNS[0].id, RUNS[1].id
    line = VIEWS["line"]
    base = urls.parse("/line", f"run={relu0}&alpha=0:1&points=20&zoom=0:0.01", CATALOG).state
    q = line.queries(base, CATALOG)
    assert (str(q["main"].start), str(q["main"].end)) == (f"init:{relu0}", f"final:{relu0}")
    assert (q["zoom"].alpha_min, q["zoom"].alpha_max, q["zoom"].points) == (0.0, 0.01, 20)
    assert line.queries(dict(base, pair="seeds", other=relu1), CATALOG)["main"].end == Endpoint.parse(f"final:{relu1}")
    assert line.queries(dict(base, pair="random", rseed=3, scale=10.0), CATALOG)["main"].start == Endpoint.parse("random:3:10")
    assert line.queries(dict(base, pair="step", step=100), CATALOG)["main"].start == Endpoint.parse(f"step:{relu0}:100")
    lonely = RUNS[4].id
    with pytest.raises(BadInput) as info:
        line.queries(dict(base, run=lonely, pair="seeds", other=None), CATALOG)
    assert info.value.field == "other" and "--seed 1" in info.value.message


def test_dropout_samples_only_for_models_with_dropout():
    relu0, dropout0 = RUNS[0].id, RUNS[5].id
    parsed = urls.parse("/line", f"run={dropout0}&dropout=8", CATALOG)
    assert parsed.notices == [] and parsed.state["dropout"] == 8
    assert "dropout=8" in urls.href(parsed.state)
    assert VIEWS["line"].queries(parsed.state, CATALOG)["main"].dropout_samples == 8
    plain = urls.parse("/line", f"run={dropout0}", CATALOG).state
    assert plain["dropout"] == 0 and "dropout=" not in urls.href(plain)  # the default is left out
    refused = urls.parse("/line", f"run={relu0}&dropout=8", CATALOG)
    assert refused.state["dropout"] == 0 and "relu-mnist/small has no dropout" in refused.notices[0]
    state, errors = urls.from_controls(plain, {"dropout": "-3"}, {"dropout"}, CATALOG)
    assert "between 0" in errors["dropout"] and state["dropout"] == 0


def test_the_batchnorm_policy_only_for_models_with_batchnorm():
    relu0, resnet0 = RUNS[0].id, RUNS[6].id
    parsed = urls.parse("/line", f"run={resnet0}&bn=recompute", CATALOG)
    assert parsed.notices == [] and "bn=recompute" in urls.href(parsed.state)
    assert VIEWS["line"].queries(parsed.state, CATALOG)["main"].bn == "recompute"
    default = urls.parse("/line", f"run={resnet0}", CATALOG).state
    assert default["bn"] == "interpolate" and "bn=" not in urls.href(default)  # the default stays out
    refused = urls.parse("/line", f"run={relu0}&bn=recompute", CATALOG)
    assert refused.state["bn"] == "interpolate" and "has no BatchNorm" in refused.notices[0]
    with pytest.raises(BadInput, match="BatchNorm policy must be one of"):
        urls.parse("/surface", f"run={resnet0}&bn=guess", CATALOG, strict=True)
    assert PARAMS["bn"].shown(default, CATALOG) and not PARAMS["bn"].shown({"run": relu0}, CATALOG)
