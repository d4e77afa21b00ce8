"""The evaluator's public surface: no module outside compute/evaluator.py reaches into its private
members; the options object checks itself; `with_dtype` is the evaluator built afresh in a dtype."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from compute.evaluator import EvalOptions, Evaluator
from compute.params import ParamLayout
from models import get_model
from models.objectives import OBJECTIVES

ROOT = Path(__file__).resolve().parents[2]
EVALUATOR = ROOT / "compute" / "evaluator.py"
# a receiver that holds an evaluator, by the names the code gives them (ev, evaluator, reference, ev64, ...)
RECEIVER = re.compile(r"(?<![\w.])(ev\w*|\w*evaluator\w*|reference|self\.ev\w*)\.(_[a-z]\w*)")


def _private_members() -> set[str]:
    """The evaluator's private names: its methods and the attributes it sets on itself."""
    tree = ast.parse(EVALUATOR.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Evaluator")
    names = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.Assign)) and hasattr(n, "name")}
    names |= {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    names |= {n.attr for n in ast.walk(cls) if isinstance(n, ast.Attribute)
              and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _reaches(text: str, private: set[str]) -> list[str]:
    return [m.group(0) for m in RECEIVER.finditer(text) if m.group(2) in private]


def test_the_scan_finds_a_private_member_where_one_is_used():
    private = _private_members()
    assert {"_split_tensors", "_split_sources", "_cost_pass", "_general_chunk"} <= private
    assert _reaches("x = ev._split_tensors['train']\ny = evaluator._cost_pass(b, c)", private) == [
        "ev._split_tensors", "evaluator._cost_pass"]
    assert _reaches("ev.forward(p, x); rec._evaluate = f; ev.__class__", private) == []


def test_no_module_outside_the_evaluator_uses_its_private_members():
    private = _private_members()
    here = Path(__file__).resolve()
    found = []
    for folder in ("app", "compute", "models", "benchmarks", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.resolve() in (EVALUATOR, here):
                continue
            found += [f"{path.relative_to(ROOT)}: {hit}" for hit in _reaches(path.read_text(), private)]
    assert found == []


def test_options_check_themselves_and_hold_shards_as_a_tuple():
    with pytest.raises(ValueError, match="bn must be one of"):
        EvalOptions(bn="sometimes")
    options = EvalOptions(shards=range(2, 5))
    assert options.shards == (2, 3, 4) and hash(options) == hash(EvalOptions(shards=[2, 3, 4]))
    with pytest.raises(AttributeError):
        options.bn = "recompute"  # frozen: one evaluation's options cannot change under it


def test_with_dtype_is_the_evaluator_built_in_that_dtype():
    spec = get_model("maxout-mnist")
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(120, 28, 28, generator=g), torch.randint(0, 10, (120,), generator=g)
    layout = ParamLayout.of(spec.build("small"))
    basis = torch.stack([layout.flatten_model(spec.build("small", s)) for s in (0, 1)])
    coeffs = np.stack([1 - np.linspace(0, 1, 4), np.linspace(0, 1, 4)], 1)
    wide = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)}, device="cpu", dtype=torch.float64,
                     memory_budget=100_000)
    narrow = wide.with_dtype(torch.float32)
    direct = Evaluator(spec.build("small"), spec.objective, {"train": (x, y)}, device="cpu", memory_budget=100_000)
    assert narrow.dtype == torch.float32 and wide.dtype == torch.float64
    assert narrow.model is wide.model and narrow.memory_budget == wide.memory_budget
    assert torch.equal(narrow.tensors(["train"])[0], direct.tensors(["train"])[0])
    got, expected = (e.evaluate(basis, coeffs, ["train"]).splits["train"].cost for e in (narrow, direct))
    assert np.array_equal(got, expected)
    # the float64 evaluation measures its distance from exactly that float32 reference
    result = wide.evaluate(basis, coeffs, ["train"])
    at_ends = result.splits["train"].cost[[0, -1]] - expected[[0, -1]]
    assert result.precision_error == float(np.max(np.abs(at_ends)))


def test_a_float64_line_recomputes_its_statistics_in_float64():
    """bn=recompute in float64: fresh statistics in the evaluation's dtype (they were float32, and
    batch_norm refused the mix), and the float32 reference takes the same recomputed statistics."""
    from compute.batchnorm import BufferLayout
    from tests.userpkg import resnet, streams

    torch.manual_seed(0)
    nets = [resnet.resnet8(), resnet.resnet8()]
    layout, buffers = ParamLayout.of(nets[0]), BufferLayout.of(nets[0])
    theta0, theta1 = (layout.flatten_model(n) for n in nets)
    basis = torch.stack([buffers.flatten_model(n) for n in nets])
    x, y = streams.tensor_twins()["train"]
    splits = {"train": (x[:64], y[:64]), "valid": (x[64:96], y[64:96])}
    ce = OBJECTIVES["cross-entropy"]
    lines = {dtype: Evaluator(resnet.resnet8(), ce, splits, device="cpu", dtype=dtype).line(
        theta0, theta1, np.array([0.0, 0.5, 1.0]), ["valid"], buffer_basis=basis,
        options=EvalOptions(bn="recompute")) for dtype in (torch.float32, torch.float64)}
    wide, narrow = lines[torch.float64], lines[torch.float32]
    np.testing.assert_allclose(wide.splits["valid"].cost, narrow.splits["valid"].cost, rtol=1e-5)
    assert wide.dtype == "float64" and 0 <= wide.precision_error < 1e-4
