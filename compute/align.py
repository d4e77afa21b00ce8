"""Weight matching: permute run B's hidden units to best match run A's, without changing B's function.

Hidden units of a layer can be reordered, with the rows of their incoming weights and the
columns of their outgoing weights, and the network computes the same function. The paper guesses
that different SGD solutions differ mostly by such a symmetry; the barrier between θ_A and the
aligned θ_B tests that guess. Method: Ainsworth, Hayase & Srinivasa, "Git Re-Basin: merging
models modulo permutation symmetries" (ICLR 2023), section 3.2, weight matching: maximise
sum over parameters of <W_A, P W_B> over the permutations P of every hidden layer, one layer at a
time (a linear assignment problem, scipy.optimize.linear_sum_assignment, with the other layers'
permutations held fixed), in an order drawn from a seeded generator each round, until a round
changes no permutation. A permutation is changed only when that strictly raises the objective,
so the rounds end (finitely many permutations) and aligning θ to itself gives θ.

Supported: the MLP family of models/mlp.py (relu, sigmoid, maxout: a maxout unit's pieces move
together, in their order; dropout changes nothing: it acts per unit and is off in J), the deep
linear network (same class, no biases: only its permutation symmetry is matched, not its full
GL(n) one), and the convolutional maxout network of models/conv.py (channels of each convolution,
the columns of the fully connected layer that read a channel's pooled map, the fully connected
maxout units). Anything else raises BadInput.

Everything works on the flat θ of compute/params.py: a permutation of units becomes one gather of
θ's entries, so the aligned θ holds B's values exactly, in the dtype and on the device given.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from models import get_model
from models.conv import ConvMaxout
from models.errors import BadInput
from models.mlp import MLP

from .params import ParamLayout

_SUPPORTED = "the MLP family (relu, sigmoid, maxout, deep linear) and the convolutional maxout network"


@dataclass(frozen=True)
class ParamView:
    """A parameter reshaped so that each permuted axis is an axis of its own."""
    shape: tuple[int, ...]  # the view's shape (same number of entries as the parameter)
    perms: tuple[str | None, ...]  # the permutation acting on each axis of the view, or None


@dataclass(frozen=True)
class PermutationSpec:
    sizes: dict[str, int]  # permutation name -> number of units it reorders
    views: dict[str, ParamView]  # parameter name -> its view (parameters no permutation touches: absent)


@dataclass(frozen=True)
class Matching:
    perms: dict[str, np.ndarray]  # name -> order: the aligned unit i is B's unit perms[name][i]
    rounds: int  # rounds of layer-wise assignments until none changed


def permutation_spec(model: nn.Module) -> PermutationSpec:
    """The permutation symmetries of one of our models; BadInput for a model we cannot permute."""
    build = _SPEC_BUILDERS.get(type(model))
    if build is None:
        raise BadInput(f"cannot align the hidden units of a {type(model).__name__}: weight matching "
                       f"supports {_SUPPORTED}", field="endpoint")
    return build(model)


def can_align(model: nn.Module) -> bool:
    try:
        permutation_spec(model)
    except BadInput:
        return False
    return True


def align_theta(model: nn.Module, theta_b: torch.Tensor, theta_a: torch.Tensor, seed: int = 0,
                max_rounds: int = 100) -> torch.Tensor:
    """θ_B with its hidden units permuted to best match θ_A's (the same function as θ_B).

    model: an instance of the runs' architecture (e.g. get_model(run.model_id).build(run.preset)),
    used only for its structure; theta_a, theta_b: flat θ in ParamLayout.of(model)'s order.
    """
    spec, layout = permutation_spec(model), ParamLayout.of(model)
    for name, theta in (("theta_a", theta_a), ("theta_b", theta_b)):
        if tuple(theta.shape) != (layout.numel,):
            raise BadInput(f"{name} has shape {tuple(theta.shape)}, the model has {layout.numel} parameters",
                           field="endpoint")
    matching = weight_matching(spec, layout, theta_a, theta_b, seed, max_rounds)
    return permute_theta(spec, layout, theta_b, matching.perms)


def weight_matching(spec: PermutationSpec, layout: ParamLayout, theta_a: torch.Tensor, theta_b: torch.Tensor,
                    seed: int = 0, max_rounds: int = 100) -> Matching:
    """The permutations of θ_B's units that best match θ_A's (coordinate ascent, see the module
    docstring). The similarity products run in float64 on θ_A's device; the assignments on the CPU."""
    a, b = _views(spec, layout, theta_a, theta_a.device), _views(spec, layout, theta_b, theta_a.device)
    perms = {p: torch.arange(n, device=theta_a.device) for p, n in spec.sizes.items()}
    axes = {p: [(name, v.perms.index(p)) for name, v in spec.views.items() if p in v.perms] for p in spec.sizes}
    # p's similarity depends on the permutations sharing a weight with it: when none of them changed
    # since p was last solved, its matrix and so its answer are the same, and solving it is skipped.
    neighbours = {p: {q for name, _ in axes[p] for q in spec.views[name].perms if q not in (None, p)}
                  for p in spec.sizes}
    solved_at, changed_at, tick = {}, {p: 0 for p in spec.sizes}, 0
    generator = np.random.default_rng(seed)
    for rounds in range(1, max_rounds + 1):
        changed = False
        for p in map(str, generator.permutation(sorted(spec.sizes))):
            tick += 1
            if p in solved_at and all(changed_at[q] < solved_at[p] for q in neighbours[p]):
                continue
            solved_at[p] = tick
            n = spec.sizes[p]
            similarity = torch.zeros((n, n), dtype=torch.float64, device=theta_a.device)
            for name, axis in axes[p]:  # [i, j]: <A's unit i, B's unit j> over every weight touching them
                wb = _permuted(b[name], spec.views[name], perms, skip=p)
                similarity += (a[name].movedim(axis, 0).reshape(n, -1) @ wb.movedim(axis, 0).reshape(n, -1).T)
            similarity = similarity.cpu().numpy()
            _, order = linear_sum_assignment(similarity, maximize=True)
            current = perms[p].cpu().numpy()
            old, new = similarity[np.arange(n), current].sum(), similarity[np.arange(n), order].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):  # strictly better: ties keep the current order
                perms[p], changed_at[p], changed = torch.from_numpy(order).to(theta_a.device), tick, True
        if not changed:
            break
    return Matching({p: v.cpu().numpy() for p, v in perms.items()}, rounds)


def permute_theta(spec: PermutationSpec, layout: ParamLayout, theta: torch.Tensor,
                  perms: dict[str, np.ndarray]) -> torch.Tensor:
    """θ with its units reordered by `perms` (one gather: values unchanged, dtype and device kept)."""
    index = np.arange(layout.numel)
    for name, (lo, hi) in layout.offsets().items():
        view = spec.views.get(name)
        if view is not None:
            index[lo:hi] = _permuted(index[lo:hi].reshape(view.shape), view, perms).reshape(-1)
    return theta[torch.from_numpy(index).to(theta.device)]


def _permuted(array, view: ParamView, perms: dict, skip: str | None = None):
    """array (numpy or torch, in view.shape) with every axis but `skip`'s reordered by its permutation."""
    for axis, p in enumerate(view.perms):
        if p is not None and p != skip:
            array = (np.take(array, perms[p], axis=axis) if isinstance(array, np.ndarray)
                     else array.index_select(axis, perms[p]))
    return array


def _views(spec: PermutationSpec, layout: ParamLayout, theta: torch.Tensor,
           device: torch.device) -> dict[str, torch.Tensor]:
    params = layout.unflatten(theta.detach().to(device, torch.float64))
    return {name: params[name].reshape(view.shape) for name, view in spec.views.items()}


# ------------------------------------------------------------------------- the supported architectures
def _mlp_spec(model: MLP) -> PermutationSpec:
    layers = list(model.layers)
    if len(layers) < 2:
        raise BadInput("this MLP has no hidden layer: there are no units to permute", field="endpoint")
    pieces = model.pieces  # rows u*pieces .. u*pieces+pieces-1 are maxout unit u (MLP._act)
    sizes, views = {}, {}
    for i, layer in enumerate(layers):
        out, fan_in = layer.weight.shape
        incoming = f"layers.{i - 1}" if i > 0 else None
        if i < len(layers) - 1:
            sizes[f"layers.{i}"] = out // pieces
            views[f"layers.{i}.weight"] = ParamView((out // pieces, pieces, fan_in), (f"layers.{i}", None, incoming))
            if layer.bias is not None:
                views[f"layers.{i}.bias"] = ParamView((out // pieces, pieces), (f"layers.{i}", None))
        else:
            views[f"layers.{i}.weight"] = ParamView((out, fan_in), (None, incoming))
    return PermutationSpec(sizes, views)


def _conv_spec(model: ConvMaxout) -> PermutationSpec:
    sizes, views = {}, {}
    incoming = None
    for i, (conv, pieces) in enumerate(zip(model.convs, model.pieces)):
        out, fan_in, kh, kw = conv.weight.shape  # channels c*pieces .. c*pieces+pieces-1: maxout unit c
        sizes[f"convs.{i}"] = out // pieces
        views[f"convs.{i}.weight"] = ParamView((out // pieces, pieces, fan_in, kh * kw),
                                               (f"convs.{i}", None, incoming, None))
        views[f"convs.{i}.bias"] = ParamView((out // pieces, pieces), (f"convs.{i}", None))
        incoming = f"convs.{i}"
    channels = sizes[incoming]
    fc_out, fc_in = model.fc.weight.shape
    # fc reads h.flatten(1) of (B, C, H, W): channel c's pooled map is columns c*H*W .. (c+1)*H*W - 1
    sizes["fc"] = fc_out // model.fc_pieces
    views["fc.weight"] = ParamView((fc_out // model.fc_pieces, model.fc_pieces, channels, fc_in // channels),
                                   ("fc", None, incoming, None))
    views["fc.bias"] = ParamView((fc_out // model.fc_pieces, model.fc_pieces), ("fc", None))
    views["out.weight"] = ParamView(tuple(model.out.weight.shape), (None, "fc"))
    return PermutationSpec(sizes, views)


_SPEC_BUILDERS = {MLP: _mlp_spec, ConvMaxout: _conv_spec}  # exact classes: a subclass may add weights


def model_refusal(model_id: str, preset: str, imported: bool = False) -> str | None:
    """Why runs of this model cannot be aligned (a message), or None when they can."""
    if imported:
        return (f"cannot align the hidden units of an imported model ({model_id}): weight matching "
                f"supports {_SUPPORTED} of the zoo")
    return _zoo_refusal(model_id, preset)


@functools.lru_cache(maxsize=64)
def _zoo_refusal(model_id: str, preset: str) -> str | None:
    # the zoo's model, built only to read its structure
    try:
        permutation_spec(get_model(model_id).build(preset))
    except BadInput as exc:
        return exc.message
    return None
