"""Exact derivatives of J: the gradient, Hessian-vector products, and dJ/dalpha, d2J/dalpha2 along a line.

One formulation for every model off the line fast path: double backward (reverse over reverse)
through the model as a pure function of its flat parameters (torch.func.functional_call). On a
chunk of examples, g = grad of the summed cost (kept differentiable), then H v = grad of g . v
for each vector v. Along theta(alpha) = theta0 + alpha d, d = theta1 - theta0, the line's
derivatives are dJ/dalpha = g . d and d2J/dalpha2 = d . H d: exact to rounding, no finite
differences, no Hessian.

Why not nested forward mode (torch.func.jvp of jvp), which this used before: in PyTorch 2.13 it
gives a wrong second derivative through layer_norm (Sequential(Linear, LayerNorm, Tanh, Linear),
float64: nested jvp 6.178, central differences and double backward 6.363), and it has no rule at
all for the fused attention kernels. Double backward and forward-over-reverse both agree with
float64 central differences through LayerNorm, BatchNorm (moving statistics), GELU, softmax
attention, tied weights, LSTM, maxout and conv + BatchNorm (tests/compute/test_derivatives_models.py).
Attention runs on PyTorch's math kernel here: the fused CPU/GPU kernels have no double backward.

The pass differentiates the user's own module, not the evaluator's folded conv + BatchNorm
(compute/convfold.py, whose channels-last weights once broke a vmap here), point after point
with no vmap. A model through which the second derivative does not exist in PyTorch (an op
without a double backward, a cost that does not depend on the parameters) is refused with one
BadInput line, never a wrong number.

The line fast path (compute/linefast.py) keeps its one-pass derivatives for piecewise-linear
MLPs, exact there; `objective_derivatives` takes them through the objective.

Data access: the evaluator's tensors (`Evaluator.tensors`), split after split, in chunks in a fixed order,
totals in float64.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import types
import weakref
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch.func import functional_call, jvp
from torch.nn.attention import SDPBackend, sdpa_kernel

from models.batches import model_outputs
from models.errors import BadInput

from .batchnorm import batchnorm_modules

Progress = Callable[[int, int], None]  # (done, total); may raise to cancel
GRAPH_COPIES = 6  # a double backward holds about this many copies of the forward's activations
KEPT_COPIES = 3  # a gradient graph kept for later products: about this many (2.4 measured, resnet8)
_NOT_DIFFERENTIABLE = ("derivative for", "not implemented", "does not require grad", "does not have a grad_fn",
                       "not differentiable", "does not support")


def objective_derivatives(per_example: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], jet: torch.Tensor,
                          targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(dc/dalpha, d2c/dalpha2) per example of the cost c = per_example(out(alpha), targets), from
    the outputs' jet (3, ...) = (out, out', out'') at alpha (the line fast path's).

    By the chain rule, dc/dalpha = grad c . out' and d2c/dalpha2 = out'^T (hess c) out' +
    grad c . out'': the jvp of (o, v) -> grad c(o) . v (itself a jvp) at (out, out') in the
    direction (out', out''). Two nested jvps of the objective alone (log-softmax, squares), on
    the outputs: checked against double backward and central differences in the tests.
    """
    def slope(out: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
        return jvp(lambda o: per_example(o, targets), (out,), (tangent,))[1]

    return jvp(slope, (jet[0], jet[1]), (jet[1], jet[2]))


# ------------------------------------------------------------------------------ the one formulation
_MATH_ATTENTION = {"lock": threading.Lock(), "users": 0, "context": None}


@contextlib.contextmanager
def _math_attention() -> Iterator[None]:
    """Attention on PyTorch's math kernel while any derivative pass runs. The setting is the
    process's, not the thread's: the first pass in sets it and the last out restores it, so that
    passes in parallel threads cannot leave it set."""
    state = _MATH_ATTENTION
    with state["lock"]:
        if state["users"] == 0:
            state["context"] = sdpa_kernel([SDPBackend.MATH])
            state["context"].__enter__()
        state["users"] += 1
    try:
        yield
    finally:
        with state["lock"]:
            state["users"] -= 1
            if state["users"] == 0:
                state["context"].__exit__(None, None, None)
                state["context"] = None


@contextlib.contextmanager
def _differentiable(ev) -> Iterator[None]:
    """Grad on, attention on the math kernel (the only one with a double backward)."""
    with torch.enable_grad(), _math_attention():
        try:
            yield
        except (RuntimeError, NotImplementedError) as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not any(s in message for s in _NOT_DIFFERENTIABLE):
                raise
            raise BadInput(f"{type(ev.model).__name__}: second derivatives cannot be taken through this model "
                           f"in PyTorch ({message[:200]})", field="derivatives") from None


def _chunk_derivatives(ev, point: torch.Tensor, vectors: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                       fixed: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(g (D,), H v (k, D), n) of the summed cost over one chunk at `point` (parameters, or
    [parameters | buffers] as the evaluator lays them out), by double backward, and what J divides
    that sum by (the chunk's examples, or its counted tokens for a token-level objective); `fixed`:
    more tensors for functional_call, held constant (buffers of a Hessian in theta only)."""
    graph = _ChunkGraph(ev, point, x, y, fixed, differentiable=len(vectors) > 0)
    return graph.g.detach(), graph.products(vectors, keep=False), graph.n


class _ChunkGraph:
    """One chunk's gradient g of its summed cost, kept differentiable (its double-backward graph),
    so that products H v = grad(g . v) can be taken from it one after another."""

    def __init__(self, ev, point: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                 fixed: dict[str, torch.Tensor] | None, differentiable: bool = True):
        self.name = type(ev.model).__name__
        self.w = w = point.detach().requires_grad_(True)
        module, params = _differentiable_module(ev.model), ev.unflatten(w)
        if module is not ev.model:  # the twin takes the model's buffers of now, not those of its copy
            params = {**dict(ev.model.named_buffers()), **params}
        if fixed:
            params = {**params, **fixed}
        out = model_outputs(functional_call(module, params, (x,)))  # a ModelOutput's logits, as the cost pass reads them
        total = ev.objective.per_example(out, y).sum()
        counts = ev.objective.counts
        self.n = float(len(x) if counts is None else counts(out.detach(), y).sum())
        if not total.requires_grad:
            raise BadInput(f"{self.name}: its cost does not depend differentiably on its parameters "
                           "(a detach, no_grad or integer step in the forward?)", field="derivatives")
        (self.g,) = torch.autograd.grad(total, w, create_graph=differentiable)
        if differentiable and not self.g.requires_grad:  # (a cost linear in theta would land here too)
            raise self._once()

    def _once(self) -> BadInput:
        return BadInput(f"{self.name}: the gradient of its cost cannot be differentiated again (a custom "
                        "autograd Function marked once_differentiable?)", field="derivatives")

    def products(self, vectors: torch.Tensor, keep: bool) -> torch.Tensor:
        """(k, D) H v of the chunk's summed cost; keep: the graph stays for later products."""
        hvps = []
        for i, v in enumerate(vectors):
            try:
                (hv,) = torch.autograd.grad(self.g, self.w, grad_outputs=v, retain_graph=keep or i < len(vectors) - 1)
            except RuntimeError as exc:  # the backward graph does not reach theta: its second derivative would read 0
                if "not have been used in the graph" in str(exc):
                    raise self._once() from None
                raise
            hvps.append(hv)
        return (torch.stack(hvps) if hvps else self.w.new_zeros((0, self.w.numel()))).detach()


_TWINS: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()


def _differentiable_module(model: torch.nn.Module) -> torch.nn.Module:
    """The model, or for one with BatchNorm a copy whose eval-mode BatchNorms are written out as
    (x - mean) / sqrt(var + eps) * weight + bias: PyTorch's batch_norm kernel is not differentiable
    in its running statistics, which move along a line with interpolated statistics."""
    if not batchnorm_modules(model):
        return model
    if model not in _TWINS:
        twin = copy.deepcopy(model)
        for _, module in batchnorm_modules(twin):
            module.forward = types.MethodType(_written_out_batchnorm, module)
        _TWINS[model] = twin
    return _TWINS[model]


def _written_out_batchnorm(self, x: torch.Tensor) -> torch.Tensor:
    if self.training or self.running_mean is None:
        return type(self).forward(self, x)
    shape = (1, -1) + (1,) * (x.dim() - 2)
    y = (x - self.running_mean.reshape(shape)) * torch.rsqrt(self.running_var.reshape(shape) + self.eps)
    return y * self.weight.reshape(shape) + self.bias.reshape(shape) if self.affine else y


def _chunk_examples(ev, point: torch.Tensor, x: torch.Tensor, copies: int = 1) -> int:
    """Examples per chunk so that the double backward's graphs fit the evaluator's memory budget."""
    per_example = _activation_bytes(ev.model, ev.unflatten(point), x[:1]) * GRAPH_COPIES * max(copies, 1)
    return int(max(1, min(len(x), ev.memory_budget // max(per_example, 1))))


def _activation_bytes(model: torch.nn.Module, params: dict[str, torch.Tensor], x1: torch.Tensor) -> int:
    """Bytes of all leaf modules' outputs for one example: what a backward graph saves, roughly."""
    total = [x1.numel() * x1.element_size()]

    def hook(_module, _inputs, output):
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            functional_call(model, params, (x1,))  # at the point: the evaluation dtype, whatever the model's
    finally:
        for h in handles:
            h.remove()
    return total[0]


def _split_pieces(ev, splits: Sequence[str], chunk: int) -> Iterator[tuple[int, slice]]:
    """(split index, rows of the concatenated data) of every chunk, each inside one split, in order."""
    bounds = ev.bounds(splits)
    for i in range(len(splits)):
        for lo in range(int(bounds[i]), int(bounds[i + 1]), chunk):
            yield i, slice(lo, min(lo + chunk, int(bounds[i + 1])))


def check_in_memory(ev, splits: Sequence[str]) -> None:
    """The one refusal of derivatives on streamed data (read in batches, compute/streaming) or with a
    loss of (outputs, batch): checked by the evaluator before its cost pass too, so a refused line
    costs nothing."""
    streamed = [s for s in splits if not ev.in_memory(s)]
    if streamed:
        raise BadInput(f"exact derivatives need the split in memory as tensors; {', '.join(streamed)} is streamed",
                       field="derivatives")
    if ev.objective.takes_batch:  # _chunk_derivatives scores (outputs, targets)
        raise BadInput("exact derivatives: for losses of (outputs, targets) only", field="derivatives")


def _concatenated(ev, splits: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    check_in_memory(ev, splits)
    return ev.tensors(splits)


# ------------------------------------------------------------------------------ public: gradient, H v
def hessian_vector_products(ev, theta: torch.Tensor, vectors: torch.Tensor, splits: Sequence[str], *,
                            buffers: torch.Tensor | None = None,
                            progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """{split: H v (k, D) float64} for each row v of `vectors` (k, D), H the Hessian in theta of the
    TOTAL cost J over the whole split (the mean over its examples, or over its counted tokens for a
    token-level objective: as Evaluator computes J) at theta.

    ev: an Evaluator (its model, objective, data, device, dtype and memory budget; its lock is
    held for the call). theta (D,): the parameters in the evaluator's ParamLayout order.
    buffers: the model's float buffers (BufferLayout order) held fixed at theta, or None for the
    model's own. Chunks of examples in a fixed order, each chunk's products summed in float64, then
    divided by the split's size: the same bits on every call. Each chunk is computed in the
    evaluator's dtype (an Evaluator with dtype=torch.float64 gives float64 throughout); vectors are
    cast to it. progress(done, total) per chunk (may raise to cancel). By double backward, the
    formulation the line derivatives use (module docstring); BadInput for a model that PyTorch
    cannot differentiate twice.
    """
    return _split_totals(ev, theta, vectors, splits, buffers, progress)[1]


def gradient(ev, theta: torch.Tensor, splits: Sequence[str], *, buffers: torch.Tensor | None = None,
             progress: Progress | None = None) -> dict[str, torch.Tensor]:
    """{split: dJ/dtheta (D,) float64}, J the mean cost over the whole split; as hessian_vector_products."""
    empty = torch.zeros(0, len(theta))
    return _split_totals(ev, theta, empty, splits, buffers, progress)[0]


def _split_totals(ev, theta, vectors, splits, buffers, progress):
    theta = theta.to(ev.device, ev.dtype)
    vectors = torch.as_tensor(vectors).to(ev.device, ev.dtype).reshape(-1, len(theta))
    fixed = None
    if buffers is not None and ev.buffer_layout.names:
        fixed = ev.buffer_layout.unflatten(buffers.to(ev.device, ev.dtype))
    x, y = _concatenated(ev, splits)
    pieces = list(_split_pieces(ev, splits, _chunk_examples(ev, theta, x, 1 + len(vectors))))
    grads = torch.zeros(len(splits), len(theta), dtype=torch.float64)
    hvps = torch.zeros(len(splits), len(vectors), len(theta), dtype=torch.float64)
    sizes = [0.0] * len(splits)
    with ev.lock, _differentiable(ev):  # functional_call swaps the module's tensors: one pass at a time
        for done, (i, rows) in enumerate(pieces, 1):
            g, hv, n = _chunk_derivatives(ev, theta, vectors, x[rows], y[rows], fixed)
            grads[i] += g.double().cpu()
            hvps[i] += hv.double().cpu()
            sizes[i] += n
            if progress is not None:  # may raise to cancel
                progress(done, len(pieces))
    return ({s: grads[i] / sizes[i] for i, s in enumerate(splits)},
            {s: hvps[i] / sizes[i] for i, s in enumerate(splits)})


class SplitHessian:
    """H v over one whole split at a fixed point, product after product (the Lanczos methods'
    operator): the chunks and sums of hessian_vector_products, so the same bits, but each chunk's
    gradient graph is built once and kept between products while the kept graphs fit the
    evaluator's memory budget (KEPT_COPIES of a chunk's activations each); the chunks beyond it are
    rebuilt for every product. So a product costs one double backward instead of a forward, a
    backward and a double backward, as PyHessian's keep their one batch's graph. `gradient()`: J's
    gradient at the point, from the same pass."""

    def __init__(self, ev, theta: torch.Tensor, split: str, buffers: torch.Tensor | None = None):
        self.ev, self.theta = ev, theta.to(ev.device, ev.dtype)
        self.fixed = None
        if buffers is not None and ev.buffer_layout.names:
            self.fixed = ev.buffer_layout.unflatten(buffers.to(ev.device, ev.dtype))
        self.x, self.y = _concatenated(ev, [split])
        self.pieces = [rows for _, rows in _split_pieces(ev, [split], _chunk_examples(ev, self.theta, self.x, 2))]
        self.example_bytes = _activation_bytes(ev.model, ev.unflatten(self.theta), self.x[:1]) * KEPT_COPIES
        self.kept: dict[int, _ChunkGraph] = {}
        self.room = ev.memory_budget
        self._gradient: torch.Tensor | None = None
        self.size = 0.0

    def _graph(self, j: int, rows: slice) -> _ChunkGraph:
        graph = self.kept.get(j)
        if graph is None:
            graph = _ChunkGraph(self.ev, self.theta, self.x[rows], self.y[rows], self.fixed)
            cost = self.example_bytes * (rows.stop - rows.start)
            if cost <= self.room:
                self.kept[j], self.room = graph, self.room - cost
        return graph

    def gradient(self) -> torch.Tensor:
        """(D,) float64 dJ/dtheta over the split."""
        if self._gradient is None:
            total = torch.zeros(len(self.theta), dtype=torch.float64)
            size = 0.0
            with self.ev.lock, _differentiable(self.ev):
                for j, rows in enumerate(self.pieces):
                    graph = self._graph(j, rows)
                    total += graph.g.detach().double().cpu()
                    size += graph.n
            self._gradient, self.size = total / size, size
        return self._gradient

    def __call__(self, vectors: torch.Tensor) -> torch.Tensor:
        """(k, D) float64 H v for each row v of `vectors` (k, D)."""
        self.gradient()  # the split's size, and the graphs kept from the first pass
        vectors = torch.as_tensor(vectors).to(self.ev.device, self.ev.dtype).reshape(-1, len(self.theta))
        out = torch.zeros(len(vectors), len(self.theta), dtype=torch.float64)
        with self.ev.lock, _differentiable(self.ev):
            for j, rows in enumerate(self.pieces):
                out += self._graph(j, rows).products(vectors, keep=j in self.kept).double().cpu()
        return out / self.size


# ------------------------------------------------------------------------------ along a line
def line_derivatives(evaluator, start: torch.Tensor, direction: torch.Tensor, alphas: np.ndarray,
                     splits: Sequence[str], progress: Progress | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (dJ/dalpha (P,), d2J/dalpha2 (P,))} at start + alpha direction for each alpha:
    g . d and d . H d by double backward (`_chunk_derivatives`, the one hessian_vector_products uses).

    start, direction: the parameters, or [parameters | buffers] (a model with float buffers
    interpolated along the line: they move with alpha, so the derivatives are those of the curve
    drawn), on the evaluator's device and in its dtype.
    """
    ev = evaluator
    x, y = _concatenated(ev, splits)
    a = np.asarray(alphas, dtype=np.float64)
    if not len(a):
        return {s: (np.zeros(0), np.zeros(0)) for s in splits}
    d = direction.to(ev.device, ev.dtype)
    d64 = d.double().cpu()
    pieces = list(_split_pieces(ev, splits, _chunk_examples(ev, start.to(ev.device, ev.dtype), x, 2)))
    sums = torch.zeros(len(a), len(splits), 2, dtype=torch.float64)
    sizes = torch.zeros(len(splits), dtype=torch.float64)
    done, total = 0, len(pieces) * len(a)
    with _differentiable(ev):
        for i, rows in pieces:
            for p, alpha in enumerate(a):
                point = start + float(alpha) * d
                g, hd, n = _chunk_derivatives(ev, point, d[None], x[rows], y[rows])
                sums[p, i, 0] += g.double().cpu() @ d64
                sums[p, i, 1] += hd[0].double().cpu() @ d64
                done += 1
                if progress is not None:  # may raise to cancel
                    progress(done, total)
            sizes[i] += n  # the same at every point: the chunk's examples or counted tokens
    means = sums / sizes[None, :, None]
    return {s: (means[:, i, 0].numpy(), means[:, i, 1].numpy()) for i, s in enumerate(splits)}
