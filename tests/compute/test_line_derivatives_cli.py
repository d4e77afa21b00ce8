"""Issue 18 §1-2 through the command line, as a user runs it: the "Your own model"
commands (docs/importing.md) on the BatchNorm resnet8, then `landscape line ... --derivatives` (it crashed inside a
vmap), checked against an independent double backward of the user's module; a user model
whose second derivative PyTorch cannot take is refused in one line, exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from app.cli import main
from tests.compute.test_derivatives_models import _double_backward

TESTS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TESTS))  # the user's package, as `--path tests` puts it there

from userpkg import data as user_data, resnet, train as user_train  # noqa: E402


def _run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _imported(capsys, folder: Path, *argv) -> str:
    code, out, err = _run(capsys, "import", str(folder), *argv)
    assert code == 0, err
    return out.strip().splitlines()[-1]


def _state(path: Path) -> nn.Module:
    model = resnet.resnet8()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.double().eval()


def test_the_readme_resnet8_line_with_derivatives(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    torch.manual_seed(0)
    ckpts = user_train.train_and_save(resnet.resnet8(), user_data.images(), tmp_path / "ckpts")
    run = _imported(capsys, ckpts, "--model", "userpkg.resnet:resnet8", "--data", "userpkg.data:cifar_like",
                    "--path", str(TESTS), "--final", "6")
    code, out, err = _run(capsys, "line", "--from", f"init:{run}", "--to", f"final:{run}", "--points", "3",
                          "--derivatives", "--dtype", "float64", "--splits", "valid")
    assert code == 0, err
    result = json.loads(out)
    assert result["alpha"] == [0.0, 0.5, 1.0]
    model0, model1 = _state(ckpts / "step_0.pt"), _state(ckpts / "step_6.pt")
    x, y = user_data.cifar_like()["valid"]
    for i, alpha in enumerate(result["alpha"]):  # statistics interpolated with theta (bn=interpolate)
        want = _double_backward(model0, model1, (x.double(), y), "cross-entropy", alpha)
        np.testing.assert_allclose((result["dcost"]["valid"][i], result["d2cost"]["valid"][i]), want, rtol=1e-8)


ONCE_DIFFERENTIABLE = '''
import torch
from torch import nn


class Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return z * z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (z,) = ctx.saved_tensors
        return 2 * z * grad


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return Square.apply(self.linear(x))


def net():
    return Net()


def data():
    g = torch.Generator().manual_seed(0)
    return {s: (torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)) for s in ("train", "valid")}
'''


def test_a_model_without_a_second_derivative_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LANDSCAPE_HOME", str(tmp_path / "home"))
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "oncenet.py").write_text(ONCE_DIFFERENTIABLE)
    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    for step in (0, 1):
        torch.manual_seed(step)
        torch.save({f"linear.{k}": v for k, v in nn.Linear(4, 3).state_dict().items()}, ckpts / f"step_{step}.pt")
    run = _imported(capsys, ckpts, "--model", "oncenet:net", "--data", "oncenet:data", "--path",
                    str(tmp_path / "code"))
    plain, _, err = _run(capsys, "line", "--from", f"init:{run}", "--to", f"final:{run}", "--points", "3")
    assert plain == 0, err  # the cost itself is fine
    code, out, err = _run(capsys, "line", "--from", f"init:{run}", "--to", f"final:{run}", "--points", "3",
                          "--derivatives")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("landscape: error:") and "cannot be differentiated again" in lines[0]
    assert "Traceback" not in err
