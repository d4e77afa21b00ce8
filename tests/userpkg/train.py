"""Plain training loops, as users write them: one saves `.pt` state dicts, one uses Landscape's
Recorder (the lines docs/importing.md shows)."""

from pathlib import Path

import torch
import torch.nn.functional as F


def _loss(model, x, y):
    out = model(x)
    return F.cross_entropy(out.flatten(0, -2), y.flatten())


def sgd_steps(model, data, steps, lr=0.05, batch=32, seed=0):
    """SGD with momentum on random minibatches; yields the step number after each update."""
    torch.manual_seed(seed)
    x, y = data["train"]
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x), (batch,))
        model.train()
        opt.zero_grad()
        _loss(model, x[idx], y[idx]).backward()
        opt.step()
        yield step


def train_and_save(model, data, folder, steps=6, every=2, prefix="step_", **sgd):
    """Saves model.state_dict() as FOLDER/step_N.pt at the start and every `every` steps."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / f"{prefix}0.pt")
    for step in sgd_steps(model, data, steps, **sgd):
        if step % every == 0:
            torch.save(model.state_dict(), folder / f"{prefix}{step}.pt")
    return folder


def train_with_recorder(model, data, recorder, steps=6, every=2, **sgd):
    """The same loop, recorded with a Landscape Recorder instead of files."""
    recorder.record(step=0, epoch=0.0, model=model)
    for step in sgd_steps(model, data, steps, **sgd):
        if step % every == 0:
            recorder.record(step=step, epoch=step / 10, model=model)
    return recorder.finish()


if __name__ == "__main__":  # python tests/userpkg/train.py DIR: docs/importing.md's example checkpoints
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from userpkg import data, resnet

    torch.manual_seed(0)
    print(train_and_save(resnet.resnet8(), data.images(), sys.argv[1] if len(sys.argv) > 1 else "ckpts"))
