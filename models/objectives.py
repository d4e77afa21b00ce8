"""Per-example costs. J(theta) on a split is the mean of `per_example` over the whole split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import BadInput


@dataclass(frozen=True)
class Objective:
    name: str
    per_example: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (B, ...) -> (B,)
    errors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None  # (B,) of 0/1, classifiers only
    description: str
    # Adversarial training (Goodfellow, Shlens & Szegedy 2014): with `perturb` set, the cost of an
    # example is (1-w) c(f(x)) + w c(f(x')) with x' = perturb(x, grad_x c(f(x))) and w =
    # `perturbed_weight`, c = per_example. The input gradient is taken for every theta evaluated.
    perturb: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    perturbed_weight: float = 0.5
    # Further per-example costs of the same (clean) output, averaged like J and shown beside it,
    # e.g. the clean cost of an adversarial objective, the classification cost of an MP-DBM.
    extras: dict = field(default_factory=dict)  # name -> (output, target) -> (B,)
    # Functions of J itself, e.g. perplexity = exp(per-token NLL): name -> (J array) -> array.
    summaries: dict = field(default_factory=dict)
    # per_example, errors and extras reduce only the last dimension of the output, so they take
    # outputs with any leading dimensions, (..., C) -> (...): the evaluator then scores many points
    # at once without reshaping (or copying) their outputs.
    leading_dims: bool = False
    # Token-level objectives (causal-lm): per_example (and errors, extras) return each example's SUM
    # over its counted positions and counts(output, target) -> (B,) how many it counted; J over a
    # split is then sum(per_example) / sum(counts) (Hugging Face's mean over every counted token).
    counts: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    # A user's loss of (outputs, batch) (models/user.py LossRef): per_example takes the batch as it
    # was read (models/batches.py Batch.as_read: the dict or the tuple, its rows repeated once per
    # point the outputs hold) instead of the targets alone.
    takes_batch: bool = False


def objective_cost(objective: Objective, forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example cost (B,) of `objective` and the clean output, for forward(x) -> output whose
    leading dimension matches y's. The one definition used by training and by the evaluator.

    The input gradient of a perturbing objective is the gradient of the summed clean cost: every
    example's cost depends on its own input only (no batch statistics), so it is per example.
    """
    if objective.perturb is None:
        out = forward(x)
        return objective.per_example(out, y), out
    keep_graph = torch.is_grad_enabled()  # training backpropagates through the clean term too
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = forward(x)
        clean = objective.per_example(out, y)
        (grad_x,) = torch.autograd.grad(clean.sum(), x, retain_graph=keep_graph)
    if not keep_graph:
        clean, out = clean.detach(), out.detach()
    # x' is a constant for the gradient, as in the source (sign() has zero derivative anyway).
    adversarial = objective.per_example(forward(objective.perturb(x.detach(), grad_x.detach())), y)
    w = objective.perturbed_weight
    return (1 - w) * clean + w * adversarial, out


def one_cost_per_example(objective: Objective, costs: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """`costs` of `outputs` as the objective took them ((points, B, ...) with `leading_dims`, else
    (points*B, ...)) when they are one cost per example; else one BadInput naming the shape. An
    objective that reduces one row of logits gives a (B, T, V) sequence model a cost per position,
    which J would count as examples (the positions of one batch spilling into the next examples)."""
    examples = 2 if objective.leading_dims else 1
    if costs.dim() == examples:
        return costs
    raise BadInput(f"the objective {objective.name} gives one cost per position, not per example: outputs of shape "
                   f"{tuple(outputs.shape[examples:])} per example, where it scores one row of logits (C,); a "
                   "sequence model needs a token objective (the zoo's token-nll; an import's cross-entropy, "
                   "causal-lm)", field="loss")


def fast_gradient_sign(epsilon: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """x + epsilon sign(grad_x J): the fast gradient sign method (Goodfellow et al. 2014, eq. 3)."""
    def perturb(x: torch.Tensor, grad_x: torch.Tensor) -> torch.Tensor:
        return x + epsilon * torch.sign(grad_x)
    return perturb


def _cross_entropy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if torch.is_grad_enabled():  # training, adversarial input gradients, derivatives; classes last, as below
        return F.cross_entropy(output.flatten(0, -2), target.flatten(), reduction="none").reshape(target.shape)
    # Evaluation only: the same value (to ~5e-7) about 3x faster than F.cross_entropy's
    # log_softmax on a CPU, which matters when small models are scored at many points.
    top = output.amax(dim=-1, keepdim=True)
    log_z = (output - top).exp_().sum(dim=-1).log_() + top.squeeze(-1)
    return log_z - output.gather(-1, target.unsqueeze(-1)).squeeze(-1)


def _misclassified(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # max(dim).indices is argmax (the first maximum; a NaN counts as the maximum), ~1.5x faster
    # than argmax on a CPU for few classes
    return (output.max(dim=-1).indices != target).to(output.dtype)


def _mse_one_hot(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Fig. 15: element i close to 1 for class i, the others close to 0; squared error summed
    # over the outputs of one example.
    one_hot = F.one_hot(target, output.shape[-1]).to(output.dtype)
    return ((output - one_hot) ** 2).sum(dim=-1)


def _squared_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((target - output) ** 2).reshape(output.shape[0], -1).sum(dim=-1)


# The functions of J an objective may report (Objective.summaries), by name: a job cut by data
# (compute/kinds/shards.py) applies them by name to the J its assembling chunk joins.
SUMMARIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"perplexity": np.exp}


OBJECTIVES: dict[str, Objective] = {
    "cross-entropy": Objective("cross-entropy", _cross_entropy, _misclassified,
                               "mean negative log-likelihood of the correct class", leading_dims=True),
    "mse-one-hot": Objective("mse-one-hot", _mse_one_hot, _misclassified,
                             "squared error to one-hot targets, summed over outputs, mean over examples",
                             leading_dims=True),
    "squared-error": Objective("squared-error", _squared_error, None,
                               "squared error (y - f(x))^2, mean over examples"),
}


# ---------------------------------------------------------------- section 4's networks: tokens, MP-DBM, adversarial

def _token_nll(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # (B, T, V) logits, (B, T) next tokens -> (B,) mean NLL per token of each sequence. Every
    # sequence has the same length T, so the mean over sequences is the mean over all tokens.
    return F.cross_entropy(output.flatten(0, 1), target.flatten(), reduction="none").view(target.shape).mean(dim=1)


def _token_errors(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output.argmax(dim=-1) != target).to(output.dtype).mean(dim=1)


def _mp_cost(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # An MP-DBM's forward returns (B, 1 + classes): its multi-prediction cost per example (it
    # needs the example's fixed prediction subsets, which travel with the inputs), then the class
    # log-probabilities of mean-field inference from the image alone.
    return output[:, 0]


def _mp_classification(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(output[:, 1:], target, reduction="none")


def _mp_misclassified(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (output[:, 1:].argmax(dim=-1) != target).to(output.dtype)


OBJECTIVES.update({
    # Goodfellow, Shlens & Szegedy 2014, eq. 6 with alpha = 0.5 and epsilon = 0.25 (MNIST, inputs in [0, 1]).
    "adversarial-cross-entropy": Objective(
        "adversarial-cross-entropy", _cross_entropy, _misclassified,
        "1/2 J(theta, x, y) + 1/2 J(theta, x + 0.25 sign(grad_x J), y), J the cross-entropy",
        perturb=fast_gradient_sign(0.25), perturbed_weight=0.5, extras={"clean": _cross_entropy}),
    "multi-prediction": Objective(
        "multi-prediction", _mp_cost, _mp_misclassified,
        "MP-DBM multi-prediction cost on fixed prediction subsets (Goodfellow et al. 2013a); error and "
        "`classification` from mean-field inference given the image alone",
        extras={"classification": _mp_classification}),
    "token-nll": Objective(
        "token-nll", _token_nll, _token_errors,
        "mean negative log-likelihood per token (nats); perplexity = exp(J); error = next-token error rate",
        summaries={"perplexity": SUMMARIES["perplexity"]}),
})


# ---------------------------------------------------------------- Hugging Face's: causal LM, sequence classification

IGNORE_INDEX = -100  # a label Hugging Face does not count (padding, prompt tokens)


def _next_tokens(output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits of positions 0..T-2, labels of positions 1..T-1 with ignored ones at 0, counted mask)."""
    labels = target[..., 1:]
    counted = labels != IGNORE_INDEX
    return output[..., :-1, :], torch.where(counted, labels, torch.zeros_like(labels)), counted


def _causal_lm_sum(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # (B, T, V) logits and (B, T) labels -> (B,) the summed next-token NLL over the counted positions
    if output.dim() == 3 and len(output) > 1 and not torch.is_grad_enabled():
        # Evaluation: one sequence at a time, each a view (logits[b, :-1] is contiguous), so that
        # log_softmax's output is one sequence's (T, V), not a copy of the chunk's and its own
        # (GPT-2 small: 51 MiB a sequence of 256, not 2 x 206 MiB for 4). The same values to the bit:
        # every position and every sequence's sum are reduced alone either way.
        return torch.stack([_causal_lm_sum(o, t) for o, t in zip(output, target)])
    logits, labels = output[..., :-1, :], target[..., 1:]
    # log_softmax (F.cross_entropy) rather than the evaluation shortcut above: J is compared with
    # the model's own `.loss` to 1e-6, and a language model's forward costs far more than this
    nll = F.cross_entropy(logits.flatten(0, -2), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="none")
    return nll.view(labels.shape).sum(dim=-1)


def _causal_lm_errors(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    logits, labels, counted = _next_tokens(output, target)
    return ((logits.max(dim=-1).indices != labels) & counted).to(output.dtype).sum(dim=-1)


def _causal_lm_counts(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (target[..., 1:] != IGNORE_INDEX).sum(dim=-1)


CAUSAL_LM = Objective(
    "causal-lm", _causal_lm_sum, _causal_lm_errors,
    "next-token cross-entropy (logits[:, :-1] against labels[:, 1:], labels -100 not counted), the mean over "
    "every counted token of the split as Hugging Face's loss; error = next-token error rate; perplexity = exp(J)",
    summaries={"perplexity": SUMMARIES["perplexity"]}, counts=_causal_lm_counts)

SEQ_CLASSIFICATION = Objective(
    "seq-classification", _cross_entropy, _misclassified,
    "cross-entropy of one (B, C) logit row per sequence against its (B,) label; error = error rate")
