"""The one evaluator: exact total cost J(theta) over whole splits, for many theta per call.

Every cost Landscape shows (lines, surfaces, controls, learning curves) comes from
`Evaluator.evaluate`. Points are given as linear combinations of a few basis vectors,
theta_p = sum_k coeffs[p, k] * basis[k]:
  - a line:      basis (theta0, theta1),  coeffs (1 - alpha, alpha)
  - a plane:     basis (origin, d1, d2),  coeffs (1, a, b)
  - plain points: basis = the points,     coeffs = identity
Each theta_p is built fresh from the basis (nothing accumulates; the caller's model is never
touched) and the model is a pure function of (theta, batch) through torch.func.functional_call.

Exact reuse: a model whose forward accepts `first_affine_out` exposes its first affine map F,
which is linear in the parameters, so F(sum_k c_k theta_k)(x) = sum_k c_k F(theta_k)(x). The
evaluator computes F(theta_k)(x) once per basis vector and combines, instead of one product per
point: a 50-point line of an MLP costs 2 first-layer products, not 50.

Data: (inputs, targets) tensors are put on the device once, the requested splits concatenated
and taken in chunks sized to a memory budget, as always. Any other split (a Dataset, a DataLoader,
...: models/batches.py) is never held whole: its batches are streamed (compute/streaming.py),
each cut into the same chunks, with float64 sums per shard added in shard order. Dict batches go
to the model as keywords; `model_outputs` reads what the forward returns. On CUDA several points go through one vmap'd call; on a
CPU a plain loop over points is as fast (the GEMM is the roof) and uses less memory. A line
through a ReLU or linear MLP on a CPU takes the exact fast path of compute/linefast.py: all its
points at once, blocks of examples in parallel threads, scored where they are computed.
A large model (LARGE_MODEL_BYTES: GPT-2 small) goes the other way round: one point (group) at a
time over all the data, built once into one reused buffer from a basis that is the endpoints
themselves, so that a line holds one parameter vector beside its endpoints and the model.
"""

from __future__ import annotations

import inspect
import threading
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from models.batches import Batch, SplitSource, TensorSource, describe_inputs, model_outputs
from models.errors import BadInput
from models.objectives import Objective, objective_cost

from .batchnorm import BufferLayout, has_batchnorm, recomputed_buffers
from .convfold import CHANNELS_LAST, FoldedForward
from .derivatives import line_derivatives
from .linefast import LinePath
from .params import Basis, ParamLayout, basis_as, build_points, stacked
from .scoring import Evaluation, Metrics, PartialSums, chunk_sums, metric_names, metrics_by_split, outputs_costs
from .sizing import largest_activation
from .streaming import Piece, combine_shards, stream_pieces, to_device
from .eval_options import DEFAULT_OPTIONS, EvalOptions, Progress, default_device, offset_progress

CACHE_BYTES = 4 << 20  # the largest activation of a chunk of examples, on a CPU
# Parameters above this (float32 bytes; GPT-2 small is 475 MiB): a model whose forward dwarfs any
# cache. Its points are built one group at a time into one reused buffer and evaluated on all the
# data before the next (building 124 M floats per chunk of examples cost as much as the forward),
# its chunks are sized by the memory budget alone, and a line's basis is its two endpoints
# themselves (no stacked copy). Smaller models keep their chunking, hence their bits.
LARGE_MODEL_BYTES = 256 << 20
DROPOUT_SEED = 20150101  # Monte-Carlo dropout passes draw their masks from seeds offset from this


class Evaluator:
    def __init__(self, model: nn.Module, objective: Objective,
                 splits: dict[str, tuple[torch.Tensor, torch.Tensor] | SplitSource],
                 *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32,
                 memory_budget: int = 1 << 30, points_per_call: int | None = None):
        self.device = torch.device(device) if device is not None else default_device()
        self.dtype = dtype
        self.model = model.to(self.device).eval()
        self.layout = ParamLayout.of(model)
        self.buffer_layout = BufferLayout.of(model)  # float buffers (BatchNorm statistics): compute/batchnorm.py
        self.batchnorm = has_batchnorm(model)
        # eval-mode BatchNorm folded into its convolution, channels-last (compute/convfold.py): CPU only,
        # where it was measured
        self.folded = FoldedForward.plan(self.model) if self.device.type == "cpu" else None
        self._own_buffers = dict(self.model.named_buffers())
        self._activation_bytes: dict[tuple, int] = {}  # input shape -> the largest activation's bytes
        self._probed_bytes: dict[tuple, int] = {}  # input shape -> the outputs' bytes, one example
        self.objective = objective
        self.memory_budget = memory_budget
        self.points_per_call = points_per_call or (16 if self.device.type == "cuda" else 1)
        self.factored = "first_affine_out" in inspect.signature(model.forward).parameters
        self.large = self.layout.numel * 4 > LARGE_MODEL_BYTES  # see LARGE_MODEL_BYTES
        # functional_call swaps the module's parameters while it runs: one evaluation at a time.
        self.lock = threading.RLock()
        # Tensors go to the device once, in the evaluation dtype; other splits are streamed.
        self._split_tensors = {
            name: (self._layout_input(x.to(self.device, dtype if x.is_floating_point() else x.dtype)),
                   y.to(self.device, dtype if y.is_floating_point() else y.dtype))
            for name, (x, y) in ((n, v) for n, v in splits.items() if not isinstance(v, SplitSource))}
        self._split_sources = {name: v for name, v in splits.items() if isinstance(v, SplitSource)}

    def with_dtype(self, dtype: torch.dtype) -> Evaluator:
        """This evaluator in `dtype`: the same model, objective, splits and settings, its tensors
        cast (an fp32 reference for an evaluation in another precision)."""
        return Evaluator(self.model, self.objective, {**self._split_tensors, **self._split_sources},
                         device=self.device, dtype=dtype, memory_budget=self.memory_budget,
                         points_per_call=self.points_per_call)

    def _layout_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded is not None and x.dim() == 4 and x.is_floating_point():
            return x.contiguous(memory_format=CHANNELS_LAST)  # slices along the batch stay channels-last
        return x

    # ------------------------------------------------------------------ public API
    streamed = property(lambda self: bool(self._split_sources))  # some split is read in batches (else all are tensors)

    def in_memory(self, split: str) -> bool:
        """The split is held as tensors on the device (else it is streamed in batches)."""
        return split not in self._split_sources

    def tensors(self, splits: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of the requested in-memory splits, concatenated in order, on the device
        in the evaluation dtype (a derivative pass reads them so; the cost passes read `pieces`)."""
        streamed = [s for s in splits if not self.in_memory(s)]
        if streamed:
            raise ValueError(f"{', '.join(streamed)} is streamed, not held as tensors")
        if len(splits) == 1:
            return self._split_tensors[splits[0]]
        return tuple(torch.cat([self._split_tensors[s][i] for s in splits]) for i in (0, 1))

    def _source(self, split: str) -> SplitSource:
        """The split as its batches are read (tensors: cut into batches as a streamed split is)."""
        if split in self._split_sources:
            return self._split_sources[split]
        return TensorSource(*self._split_tensors[split], split)

    def bounds(self, splits: Sequence[str]) -> np.ndarray:
        """Where each split's examples start among the requested splits' (cumulative, S + 1)."""
        return np.cumsum([0] + [self._source(s).num_examples for s in splits])

    def pieces(self, splits: Sequence[str], shards: Sequence[int] | None = None,
               examples: int | None = None) -> Iterator[Piece]:
        """The requested splits' data on the device, in the evaluation dtype: the one way to read it.
        Tensors: one piece, the splits concatenated (shard 0); streamed: its batches in order (of
        `shards`, numbered across the splits; joined up to `examples`), read ahead by a thread."""
        if not self.streamed:
            x, y = self.tensors(splits)
            yield Piece(0, Batch((x,), {}, y, len(x)), 0)
            return
        sources = [self._source(s) for s in splits]
        yield from stream_pieces(sources, self.bounds(splits),
                                 lambda b: to_device(b, self.device, self.dtype, self._layout_input), shards, examples)

    def evaluate(self, basis: Basis, coeffs: torch.Tensor | np.ndarray, splits: Sequence[str],
                 progress: Progress | None = None, *, buffer_basis: torch.Tensor | None = None,
                 options: EvalOptions = DEFAULT_OPTIONS) -> Evaluation:
        """J and error rate at theta_p = coeffs[p] @ basis for every p, on each split.

        With `options.shards` (streamed data; numbered across the splits, see `num_shards`): only
        the float64 sums of those shards, in Evaluation.partial, for a chunk of a job cut by data.

        A model with float buffers (BatchNorm statistics) takes them at point p from
        coeffs[p] @ buffer_basis (one row per basis vector; zeros for a direction), or, with
        bn="recompute" and BatchNorm in the model, re-estimated at every point from the training
        split (compute/batchnorm.py). Without a buffer basis the model's own buffers are used.

        With `dropout_samples` = N > 0, instead of the eval-mode cost: a Monte-Carlo estimate of
        the cost with dropout on, the mean of N passes. Pass s draws its masks from a seed of
        (s, first example of the chunk), the same at every point: the N passes are N fixed
        dropout networks, so the estimate varies smoothly along a line and is reproducible.

        `derivatives` (a line's basis (theta0, theta1) only: call it through `line`): also dJ/dalpha
        and d2J/dalpha2 along it.
        """
        if options.shards is not None and (options.derivatives or self.dtype != torch.float32
                                           or options.bn == "recompute"):
            raise ValueError("a part of the data takes the fp32 cost alone (no derivatives, no recomputed statistics)")
        with self.lock:
            return self._checked_pass(basis, coeffs, splits, progress, buffer_basis, options)

    def num_shards(self, splits: Sequence[str]) -> int:
        """Shards of the requested splits' data (1 for in-memory tensors: it is not cut)."""
        return sum(self._source(s).num_shards for s in splits) if self.streamed else 1

    def _checked_pass(self, basis: Basis, coeffs: torch.Tensor | np.ndarray, splits: Sequence[str],
                          progress: Progress | None, buffer_basis: torch.Tensor | None,
                          options: EvalOptions) -> Evaluation:
        # rows (a large model's line: its endpoints themselves) stay rows; else one (K, D) tensor
        basis = basis_as(basis if self.large else stacked(basis), device=self.device, dtype=self.dtype)
        coeffs = torch.as_tensor(np.asarray(coeffs, dtype=np.float64))
        point_buffers = None
        if buffer_basis is not None and self.buffer_layout.names:  # [theta | buffers]
            basis = torch.cat([stacked(basis), buffer_basis.to(self.device, self.dtype)], dim=1)
            if options.bn == "recompute" and self.batchnorm:
                point_buffers = recomputed_buffers(self, basis, coeffs, progress)
        result = self._cost_pass(basis, coeffs, splits, progress, options, point_buffers)
        if options.shards is not None:
            return Evaluation({}, "float32", None, result)
        precision_error = None
        if self.dtype != torch.float32:
            check = [0, len(coeffs) - 1] if len(coeffs) > 1 else [0]
            # the cost alone (no derivatives) at the first and last points; streamed data read in fp32
            exact = self.with_dtype(torch.float32)._cost_pass(
                basis_as(basis, dtype=torch.float32), coeffs[check], splits, None, EvalOptions(dropout_samples=options.dropout_samples),
                None if point_buffers is None else point_buffers[check].float())
            precision_error = max(float(np.max(np.abs(result[s].cost[check] - exact[s].cost))) for s in splits)
        return Evaluation(result, str(self.dtype).replace("torch.", ""), precision_error)

    def line(self, theta0: torch.Tensor, theta1: torch.Tensor, alphas: np.ndarray, splits: Sequence[str],
             progress: Progress | None = None, *, buffer_basis: torch.Tensor | None = None,
             options: EvalOptions = DEFAULT_OPTIONS) -> Evaluation:
        """J at (1 - alpha) theta0 + alpha theta1 for each alpha (`evaluate` with basis (theta0,
        theta1), buffer_basis its buffers); with `options.derivatives`, also dJ/dalpha and d2J/dalpha2
        exactly (Metrics.dcost, d2cost): in the same pass as the cost where the line fast path
        takes the line, else by double backward after it (compute/derivatives.py)."""
        recomputed = options.bn == "recompute" and self.batchnorm
        if options.derivatives and (options.dropout_samples or self.objective.perturb is not None or recomputed):
            raise ValueError("derivatives are defined for the deterministic cost of a clean objective, with "
                             "interpolated BatchNorm statistics")
        alphas = np.asarray(alphas, dtype=np.float64)
        basis = (theta0, theta1) if self.large else torch.stack([theta0, theta1])
        coeffs = np.stack([1.0 - alphas, alphas], axis=1)
        return self.evaluate(basis, coeffs, splits, progress, buffer_basis=buffer_basis, options=options)

    def evaluate_points(self, thetas: torch.Tensor, splits: Sequence[str], progress: Progress | None = None,
                        buffer_basis: torch.Tensor | None = None) -> Evaluation:
        """J at each of the points `thetas` (with each point's own buffers, when given)."""
        return self.evaluate(thetas, np.eye(len(thetas)), splits, progress, buffer_basis=buffer_basis)

    def derivatives(self, theta0: torch.Tensor, theta1: torch.Tensor, alphas: np.ndarray, splits: Sequence[str],
                    progress: Progress | None = None,
                    buffer_basis: torch.Tensor | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{split: (dJ/dalpha, d2J/dalpha2)} along theta0 -> theta1 by double backward through the
        whole network, whatever the model (compute/derivatives.py); `line` takes the fast way where
        there is one."""
        if self.objective.perturb is not None:
            raise ValueError("derivatives of an objective that perturbs its inputs are not defined here")
        start = theta0.to(self.device, self.dtype)
        direction = theta1.to(self.device, self.dtype) - start
        if buffer_basis is not None and self.buffer_layout.names:
            b = buffer_basis.to(self.device, self.dtype)
            start, direction = torch.cat([start, b[0]]), torch.cat([direction, b[1] - b[0]])
        with self.lock:
            return line_derivatives(self, start, direction, alphas, splits, progress)

    def unflatten(self, points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Flat points (..., D) of parameters, or of [parameters | buffers], as tensors by name, with
        the points' leading dimensions: as functional_call (and `forward`) takes them."""
        numel = self.layout.numel
        if points.shape[-1] == numel:
            return self.layout.unflatten(points)
        return {**self.layout.unflatten(points[..., :numel]), **self.buffer_layout.unflatten(points[..., numel:])}

    # ------------------------------------------------------------------ internals
    def _cost_pass(self, basis: Basis, coeffs: torch.Tensor, splits: Sequence[str], progress: Progress | None,
                  options: EvalOptions, point_buffers: torch.Tensor | None = None) -> dict[str, Metrics] | PartialSums:
        """Metrics per split; with `derivatives` (of a line), dJ/dalpha and d2J/dalpha2; with `shards`, their sums."""
        dropout_samples, derivatives, shards = options.dropout_samples, options.derivatives, options.shards
        n_points, n_basis = coeffs.shape
        bounds = self.bounds(splits)
        metrics = metric_names(self.objective)
        # An objective that perturbs the inputs needs grad_x, so the forward must start from x; so
        # does input dropout. The line fast path is for the deterministic eval-mode network.
        exact = self.objective.perturb is None and not dropout_samples and basis[0].shape[-1] == self.layout.numel
        c = coeffs.to(self.device, self.dtype)
        done, shard_sums = 0, {}  # shard -> float64 sums (P, S, metric) of its examples
        head = next(stream := self.pieces(splits, shards), None)  # what it holds decides the paths and chunks
        stream.close()
        if head is None:
            raise BadInput(f"the data of {', '.join(splits)} yields no batches", field="data")
        single = head.batch.single
        reuse = self.factored and single is not None and n_basis < n_points and exact
        # a line through a ReLU/linear MLP: all points' outputs from sign-flip updates (linefast.py)
        line = (LinePath.plan(self.model, self.layout, basis, coeffs)
                if exact and single is not None and not self.objective.takes_batch else None)
        # the fast path's pass gives the derivatives too; elsewhere double backward follows the cost
        one_pass = derivatives and line is not None
        if one_pass:
            metrics += ["dcost", "d2cost"]
        cost_progress = offset_progress(progress, 0, 2) if derivatives and not one_pass else progress
        chunk = self.chunk_size(basis, head.batch if single is None else single, n_basis if reuse else 0,
                                cap=not self.streamed)
        if line is not None:  # it holds the outputs of every point for a whole chunk
            chunk = min(chunk, line.examples_within(self.memory_budget, derivatives))
        # progress in chunks x points (tensors, as before) or examples x points (streamed)
        total = (-(-head.batch.size // chunk) if not self.streamed else int(bounds[-1])) * n_points
        # A large model: one group of points at a time over all the data, built once into `built`;
        # else every point on each chunk in turn, built there (the order of each point's sums is
        # the data's either way).
        large = self.large and line is None
        step = self.points_per_call if large else n_points
        built = (torch.empty(min(step, n_points), basis[0].shape[-1], dtype=self.dtype, device=self.device)
                 if large else None)
        with torch.no_grad():
            for first_point in range(0, n_points, step):
                group = slice(first_point, first_point + step)
                points = None if built is None else build_points(c[group], basis, built[:len(c[group])])
                for piece in (self.pieces(splits, shards, chunk) if self.streamed else [head]):
                    batch = piece.batch
                    x, y = (batch.single if batch.single is not None else batch), batch.targets
                    sums = shard_sums.setdefault(piece.shard, torch.zeros(n_points, len(splits), len(metrics),
                                                                          dtype=torch.float64))
                    for lo in range(0, len(x), chunk):
                        xc, yc, start = x[lo:lo + chunk], y[lo:lo + chunk], piece.start + lo
                        parts = ([(0, line.chunk_sums(self.objective, xc, yc, start, bounds, one_pass))]
                                 if line is not None
                                 else self._general_chunk(basis, c[group], xc, yc, start, bounds, reuse,
                                                          dropout_samples, point_buffers, first_point, points))
                        for p0, part in parts:  # (first point, sums (g, S, metric) of g points)
                            sums[p0:p0 + len(part)] += part
                            done += len(part) * (len(xc) if self.streamed else 1)
                            if cost_progress is not None:
                                cost_progress(done, total)
        if shards is not None:
            return PartialSums(metrics, [int(b) for b in bounds], shard_sums, list(self.objective.summaries))
        sums = combine_shards(shard_sums)
        result = metrics_by_split(self.objective, sums, metrics, splits, bounds)
        if derivatives and not one_pass:
            by_split = line_derivatives(self, basis[0], basis[1] - basis[0], coeffs[:, 1].numpy(), splits,
                                        offset_progress(progress, 1, 2))
            for s, (d1, d2) in by_split.items():
                result[s].dcost, result[s].d2cost = d1, d2
        return result

    def _general_chunk(self, basis: Basis, c: torch.Tensor, x: torch.Tensor, y: torch.Tensor, start: int,
                       bounds: np.ndarray, reuse: bool, dropout_samples: int = 0,
                       point_buffers: torch.Tensor | None = None, first_point: int = 0,
                       points: torch.Tensor | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """The general path on one chunk of examples: (first point, sums) per group of points, for
        the points first_point, first_point + 1, ... of coefficients `c`; `points`: those already built
        (one group: a large model's, see LARGE_MODEL_BYTES)."""
        parts = None
        if reuse:  # (K, B, H): the first affine map of every basis vector
            parts = torch.stack([self.forward(b, x, only_first_affine=True) for b in basis])
        for p0 in range(first_point, first_point + len(c), self.points_per_call):
            cp = c[p0 - first_point:p0 - first_point + self.points_per_call]  # (g, K)
            thetas = points if points is not None else cp @ basis  # (g, D), fresh from the basis for every point
            if point_buffers is not None:  # bn=recompute: this point's own statistics
                thetas = torch.cat([thetas[:, :self.layout.numel], point_buffers[p0:p0 + len(cp)]], dim=1)
            if dropout_samples:
                yield p0, sum(chunk_sums(self.objective, *self._dropout_pass(thetas, x, y, s, start), start, bounds)
                              for s in range(dropout_samples)) / dropout_samples
                continue
            first = torch.einsum("gk,kb...->gb...", cp, parts) if reuse else None
            yield p0, chunk_sums(self.objective, *self._point_costs(thetas, x, y, first), start, bounds)

    def _dropout_pass(self, thetas: torch.Tensor, x: torch.Tensor, y: torch.Tensor, sample: int, start: int):
        """`_point_costs` with dropout on, its masks drawn from a seed of (sample, first example)."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(DROPOUT_SEED + 1_000_003 * sample + start)
            self.model.train()
            for module in self.model.modules():  # dropout on, but BatchNorm keeps its statistics
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
            try:
                return self._point_costs(thetas, x, y, None)
            finally:
                self.model.eval()

    def _point_costs(self, thetas: torch.Tensor, x: torch.Tensor, y: torch.Tensor, first: torch.Tensor | None):
        """(g, per-example costs (g*B,), outputs (g*B, ...), targets (g*B, ...)) of g points on a chunk."""
        if self.objective.perturb is None:
            return outputs_costs(self.objective, self._points_outputs(thetas, x, first), y, x)
        g = len(thetas)
        flat_y = y.repeat(g, *([1] * (y.dim() - 1)))
        # Adversarial objectives: every point needs its own input gradient. One grad-enabled
        # forward over the whole point group (vmap'd when g > 1) and one backward to a (g, B, ...)
        # copy of the inputs give all g*B per-example gradients at once: no per-point loop.
        params = self.unflatten(thetas)

        def perturbed_outputs(xs: torch.Tensor) -> torch.Tensor:  # (g, B, ...) -> (g*B, ...)
            if g == 1:
                out = self.forward({k: v[0] for k, v in params.items()}, xs[0])[None]
            else:
                out = vmap(lambda p, xi: self.forward(p, xi), randomness="same")(params, xs)
            return out.reshape(g * out.shape[1], *out.shape[2:])

        per, flat_out = objective_cost(self.objective, perturbed_outputs, x.expand(g, *x.shape), flat_y)
        return g, per, flat_out, flat_y

    def forward(self, point: torch.Tensor | dict[str, torch.Tensor], x: torch.Tensor | Batch, **kwargs) -> torch.Tensor:
        """The model's outputs at `point` (flat, as `unflatten` takes it, or tensors by name) on a
        tensor input or a batch (positional and keyword inputs), its return read by `model_outputs`
        (as the derivatives and the work estimate read it)."""
        params = self.unflatten(point) if isinstance(point, torch.Tensor) else point
        args = (x,) if isinstance(x, torch.Tensor) else x.args
        if not isinstance(x, torch.Tensor):
            kwargs = {**x.kwargs, **kwargs}
        if self.folded is not None and not kwargs and len(args) == 1 and not self.model.training:
            return functional_call(self.folded.module, self.folded.fold(params, self._own_buffers), args)
        try:
            return model_outputs(functional_call(self.model, params, args, kwargs))
        except torch.OutOfMemoryError:  # the machine's limit, not the user's mistake: the job fails as one
            raise
        except (RuntimeError, IndexError, ValueError, TypeError) as exc:
            raise BadInput(f"the model raised {type(exc).__name__} ({str(exc).splitlines()[0][:200] if str(exc) else ''}) "
                           f"on inputs {describe_inputs(args, kwargs)}", field="model") from None

    def _points_outputs(self, thetas: torch.Tensor, x: torch.Tensor, first: torch.Tensor | None) -> torch.Tensor:
        """(g, B, ...): the outputs of g points on a chunk (one call, vmap'd when g > 1)."""
        if len(thetas) == 1:
            kwargs = {} if first is None else {"first_affine_out": first[0]}
            return self.forward(thetas[0], x, **kwargs)[None]
        params = self.unflatten(thetas)  # leading dim g on every tensor
        if first is None:
            return vmap(lambda p: self.forward(p, x), randomness="same")(params)  # same dropout masks
        return vmap(lambda p, z: self.forward(p, x, first_affine_out=z))(params, first)

    def chunk_size(self, basis: Basis, x: torch.Tensor | Batch, n_parts: int, cap: bool = True) -> int:
        """Examples per chunk so that the largest activations of a call fit the memory budget (at
        most len(x) with `cap`; streamed batches are cut by this, whatever their size)."""
        per_example = self._output_bytes(basis, x[:1]) * (n_parts + 4 * self.points_per_call)
        chunk = min(len(x) if cap else 1 << 62, self.memory_budget // max(per_example, 1))
        if not self.factored and self.device.type == "cpu" and not self.large:
            # Activations that stay in the cache: a ResNet-20 on 1,000 CIFAR images ran 2x faster in
            # chunks of ~64 than in one batch, where every layer streams its maps through memory.
            chunk = min(chunk, CACHE_BYTES // max(self._largest_activation(x[:1]), 1))
        return int(max(1, chunk))

    def _output_bytes(self, basis: Basis, x1: torch.Tensor | Batch) -> int:
        """Bytes of the model's outputs (of its first affine map, where it exposes one) for one
        example, measured once per input shape: a large model's probe costs a sequence's forward,
        and every surface row asks."""
        shape = tuple(x1.shape[1:]) if isinstance(x1, torch.Tensor) else x1.shapes()
        if shape not in self._probed_bytes:
            with torch.no_grad():
                probe = self.forward(basis[0], x1, **({"only_first_affine": True} if self.factored else {}))
            self._probed_bytes[shape] = probe.numel() * probe.element_size()
        return self._probed_bytes[shape]

    def _largest_activation(self, x1: torch.Tensor) -> int:
        """Bytes of the largest output of any submodule of the model, for one example (measured once
        per input shape: every surface row asks)."""
        shape = tuple(x1.shape[1:]) if isinstance(x1, torch.Tensor) else x1.shapes()
        if shape not in self._activation_bytes:
            self._activation_bytes[shape] = largest_activation(self.model, x1)
        return self._activation_bytes[shape]
