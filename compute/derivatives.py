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

Data access (`_Chunks`): the evaluator's tensors (`Evaluator.tensors`) or its streamed batches
(`Evaluator.pieces`, any batch structure, keyword inputs and losses of (outputs, batch) as in the
cost pass), split after split, in chunks in a fixed order, totals in float64.
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

from models.batches import Batch, batch_as_read, model_outputs
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


def _chunk_derivatives(ev, point: torch.Tensor, vectors: torch.Tensor, batch: Batch,
                       fixed: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(g (D,), H v (k, D), n) of the summed cost over one chunk at `point` (parameters, or
    [parameters | buffers] as the evaluator lays them out), by double backward, and what J divides
    that sum by (the chunk's examples, or its counted tokens for a token-level objective); `fixed`:
    more tensors for functional_call, held constant (buffers of a Hessian in theta only)."""
    graph = _ChunkGraph(ev, point, batch, fixed, differentiable=len(vectors) > 0)
    return graph.g.detach(), graph.products(vectors, keep=False), graph.n


class _ChunkGraph:
    """One chunk's gradient g of its summed cost, kept differentiable (its double-backward graph),
    so that products H v = grad(g . v) can be taken from it one after another."""

    def __init__(self, ev, point: torch.Tensor, batch: Batch,
                 fixed: dict[str, torch.Tensor] | None, differentiable: bool = True):
        self.name = type(ev.model).__name__
        self.w = w = point.detach().requires_grad_(True)
        module, params = _differentiable_module(ev.model), ev.unflatten(w)
        if module is not ev.model:  # the twin takes the model's buffers of now, not those of its copy
            params = {**dict(ev.model.named_buffers()), **params}
        if fixed:
            params = {**params, **fixed}
        # keyword inputs as the cost pass gives them; a ModelOutput's logits, as it reads them
        out = model_outputs(functional_call(module, params, batch.args, batch.kwargs))
        y = batch.targets
        # a loss of (outputs, batch) takes the chunk as read, as in the cost pass (compute/scoring.py)
        total = ev.objective.per_example(out, batch_as_read(batch, y) if ev.objective.takes_batch else y).sum()
        counts = ev.objective.counts
        self.n = float(batch.size if counts is None else counts(out.detach(), y).sum())
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


def _activation_bytes(model: torch.nn.Module, params: dict[str, torch.Tensor], one: Batch) -> int:
    """Bytes of all leaf modules' outputs for one example: what a backward graph saves, roughly."""
    total = [sum(t.numel() * t.element_size() for t in (*one.args, *one.kwargs.values()))]

    def hook(_module, _inputs, output):
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            functional_call(model, params, one.args, one.kwargs)  # at the point: the evaluation dtype
    finally:
        for h in handles:
            h.remove()
    return total[0]


class _Chunks:
    """The examples of `splits` in chunks whose double-backward graphs (`copies` of them) fit the
    evaluator's memory budget, each inside one split, in a fixed order: (split index, Batch).
    In-memory tensors are cut as they always were; streamed data (any batch structure: tensors,
    tuples, dicts) is read through the evaluator's one reader, its batches joined or cut to the
    chunk size within a shard, so the same chunks on every pass."""

    def __init__(self, ev, splits: Sequence[str], point: torch.Tensor, copies: int):
        self.ev, self.splits = ev, list(splits)
        self.bounds = ev.bounds(self.splits)
        head = next(stream := ev.pieces(self.splits), None)
        stream.close()
        if head is None:
            raise BadInput(f"the data of {', '.join(self.splits)} yields no batches", field="data")
        self.example_bytes = _activation_bytes(ev.model, ev.unflatten(point), head.batch.rows(0, 1))
        per_example = self.example_bytes * GRAPH_COPIES * max(copies, 1)
        self.size = int(max(1, min(int(self.bounds[-1]), ev.memory_budget // max(per_example, 1))))

    @property
    def examples(self) -> int:
        return int(self.bounds[-1])

    def __iter__(self) -> Iterator[tuple[int, Batch]]:
        if all(self.ev.in_memory(s) for s in self.splits):  # cut as always: the same bits
            x, y = self.ev.tensors(self.splits)
            for i in range(len(self.splits)):
                for lo in range(int(self.bounds[i]), int(self.bounds[i + 1]), self.size):
                    hi = min(lo + self.size, int(self.bounds[i + 1]))
                    yield i, Batch((x[lo:hi],), {}, y[lo:hi], hi - lo)
            return
        for piece in self.ev.pieces(self.splits, examples=self.size):
            i = int(np.searchsorted(self.bounds, piece.start, side="right")) - 1
            for lo in range(0, piece.batch.size, self.size):
                yield i, piece.batch.rows(lo, lo + self.size)


def _fixed_buffers(ev, buffers: torch.Tensor | None) -> dict[str, torch.Tensor] | None:
    """The model's float buffers held fixed at the point (by name, for functional_call), or None."""
    if buffers is None or not ev.buffer_layout.names:
        return None
    return ev.buffer_layout.unflatten(buffers.to(ev.device, ev.dtype))


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
    fixed = _fixed_buffers(ev, buffers)
    chunks = _Chunks(ev, splits, theta, 1 + len(vectors))
    grads = torch.zeros(len(splits), len(theta), dtype=torch.float64)
    hvps = torch.zeros(len(splits), len(vectors), len(theta), dtype=torch.float64)
    sizes = [0.0] * len(splits)
    done = 0
    with ev.lock, _differentiable(ev):  # functional_call swaps the module's tensors: one pass at a time
        for i, batch in chunks:
            g, hv, n = _chunk_derivatives(ev, theta, vectors, batch, fixed)
            grads[i] += g.double().cpu()
            hvps[i] += hv.double().cpu()
            sizes[i] += n
            done += batch.size
            if progress is not None:  # may raise to cancel
                progress(done, chunks.examples)
    return ({s: grads[i] / sizes[i] for i, s in enumerate(splits)},
            {s: hvps[i] / sizes[i] for i, s in enumerate(splits)})


class SplitHessian:
    """H v over one whole split at a fixed point, product after product (the Lanczos methods'
    operator): the chunks and sums of hessian_vector_products of one vector, so the same bits for
    one vector at a time, but each chunk's gradient graph is built once and kept between products
    while the kept graphs (KEPT_COPIES of a chunk's activations each) fit the evaluator's memory
    budget less one rebuilt chunk's working set; the others are rebuilt for every product. So a
    product costs one double backward instead of a forward, a backward and a double backward, as
    PyHessian's keep their one batch's graph."""

    def __init__(self, ev, theta: torch.Tensor, split: str, buffers: torch.Tensor | None = None):
        self.ev, self.theta = ev, theta.to(ev.device, ev.dtype)
        self.fixed = _fixed_buffers(ev, buffers)
        self.chunks = _Chunks(ev, [split], self.theta, 2)
        self.kept: list[_ChunkGraph] = []  # the first chunks' graphs, in order
        # what the kept graphs may hold: the budget less the working set of a chunk built afresh
        # (its double backward, GRAPH_COPIES x 2 vectors' worth), which comes on top of them
        self.room = max(0, ev.memory_budget - self.chunks.size * self.chunks.example_bytes * GRAPH_COPIES * 2)
        self.size: float | None = None  # what J divides by: known after the first product
        self.count = 0  # chunks, known after the first product

    def _graphs(self) -> Iterator[tuple[_ChunkGraph, bool]]:
        """(graph, kept) of every chunk in order: the kept ones as they are (all kept: the data is
        not read again), the others built afresh, kept while they fit."""
        if self.size is not None and len(self.kept) == self.count:
            yield from ((graph, True) for graph in self.kept)
            return
        for j, (_, batch) in enumerate(self.chunks):
            if j < len(self.kept):
                yield self.kept[j], True
                continue
            graph = _ChunkGraph(self.ev, self.theta, batch, self.fixed)
            cost = self.chunks.example_bytes * KEPT_COPIES * batch.size
            keep = self.size is None and len(self.kept) == j and cost <= self.room
            if keep:
                self.kept.append(graph)
                self.room -= cost
            yield graph, keep

    def __call__(self, vectors: torch.Tensor) -> torch.Tensor:
        """(k, D) float64 H v for each row v of `vectors` (k, D)."""
        vectors = torch.as_tensor(vectors).to(self.ev.device, self.ev.dtype).reshape(-1, len(self.theta))
        out = torch.zeros(len(vectors), len(self.theta), dtype=torch.float64)
        size, count = 0.0, 0
        with self.ev.lock, _differentiable(self.ev):
            for graph, kept in self._graphs():
                out += graph.products(vectors, keep=kept).double().cpu()
                size, count = size + graph.n, count + 1
        self.size, self.count = size, count
        return out / size


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
    a = np.asarray(alphas, dtype=np.float64)
    if not len(a):
        return {s: (np.zeros(0), np.zeros(0)) for s in splits}
    d = direction.to(ev.device, ev.dtype)
    d64 = d.double().cpu()
    chunks = _Chunks(ev, splits, start.to(ev.device, ev.dtype), 2)
    sums = torch.zeros(len(a), len(splits), 2, dtype=torch.float64)
    sizes = torch.zeros(len(splits), dtype=torch.float64)
    done, total = 0, chunks.examples * len(a)
    with _differentiable(ev):
        for i, batch in chunks:
            for p, alpha in enumerate(a):
                point = start + float(alpha) * d
                g, hd, n = _chunk_derivatives(ev, point, d[None], batch)
                sums[p, i, 0] += g.double().cpu() @ d64
                sums[p, i, 1] += hd[0].double().cpu() @ d64
                done += batch.size
                if progress is not None:  # may raise to cancel
                    progress(done, total)
            sizes[i] += n  # the same at every point: the chunk's examples or counted tokens
    means = sums / sizes[None, :, None]
    return {s: (means[:, i, 0].numpy(), means[:, i, 1].numpy()) for i, s in enumerate(splits)}
