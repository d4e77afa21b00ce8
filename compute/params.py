"""A model's parameters as one flat vector theta, in a fixed recorded order, and back.

Policy for buffers (e.g. BatchNorm running statistics): they are not part of theta. A run
records the buffers of its final checkpoint and every evaluation uses those, so J(theta) is one
function of theta alone. The built-in models have no buffers.

Shared (tied) parameters, e.g. a language model's output head tied to its token embedding
(`lm_head.weight is wte.weight`), are ONE entry of theta, under the first name
`named_parameters()` gives; `aliases` lists every name `state_dict()` holds it under.
`torch.func.functional_call` (tie_weights=True, its default) then sets every alias from that one
entry, so a point between two checkpoints stays tied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

@dataclass(frozen=True)
class ParamLayout:
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, model: nn.Module) -> "ParamLayout":
        named = [(n, p) for n, p in model.named_parameters()]
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape) for _, p in named))

    @classmethod
    def from_json(cls, obj: list) -> "ParamLayout":
        return cls(tuple(o["name"] for o in obj), tuple(tuple(o["shape"]) for o in obj))

    def to_json(self) -> list:
        return [{"name": n, "shape": list(s)} for n, s in zip(self.names, self.shapes)]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(math.prod(s) for s in self.shapes)

    @property
    def numel(self) -> int:
        return sum(self.sizes)

    def offsets(self) -> dict[str, tuple[int, int]]:
        out, start = {}, 0
        for name, size in zip(self.names, self.sizes):
            out[name] = (start, start + size)
            start += size
        return out

    def flatten(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([params[n].detach().reshape(-1) for n in self.names])

    def flatten_model(self, model: nn.Module) -> torch.Tensor:
        return self.flatten(dict(model.named_parameters()))

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views into theta (no copies); theta may carry leading batch dimensions."""
        lead = theta.shape[:-1]
        pieces = torch.split(theta, self.sizes, dim=-1)
        return {n: p.reshape(tuple(lead) + tuple(s)) for n, p, s in zip(self.names, pieces, self.shapes)}

    def aliases(self, model: nn.Module) -> dict[str, tuple[str, ...]]:
        """Each entry of theta -> every name the model holds it under (its own name first)."""
        first: dict[int, str] = {}
        names: dict[str, list[str]] = {n: [n] for n in self.names}
        for name, param in model.named_parameters(remove_duplicate=False):
            owner = first.setdefault(id(param), name)
            if owner != name and owner in names:
                names[owner].append(name)
        return {n: tuple(a) for n, a in names.items()}

    def load_into(self, model: nn.Module, theta: torch.Tensor) -> None:
        with torch.no_grad():
            for name, value in self.unflatten(theta).items():
                model.get_parameter(name).copy_(value)


# Points as combinations theta_p = sum_k c[p, k] basis[k] (compute/evaluator.py): the basis is a
# (K, D) tensor, or its K vectors as they are (a large model's line: no stacked copy of theta0, theta1).
Basis = torch.Tensor | Sequence[torch.Tensor]


def stacked(basis: Basis) -> torch.Tensor:
    """The basis as one (K, D) tensor (a copy only where it was given as its vectors)."""
    return basis if isinstance(basis, torch.Tensor) else torch.stack(list(basis))


def basis_as(basis: Basis, **to) -> Basis:
    """The basis moved or cast by `Tensor.to(**to)`, vector by vector where it was given so."""
    return basis.to(**to) if isinstance(basis, torch.Tensor) else tuple(b.to(**to) for b in basis)


BUILD_BLOCK = 1 << 18  # elements of a point built at a time, by one thread: its temporaries stay in the cache


def build_points(c: torch.Tensor, basis: Basis, out: torch.Tensor) -> torch.Tensor:
    """out (g, D) = c (g, K) @ basis, written into `out` (no new vector): one buffer reused for
    every point of a large model. Each product is rounded to the accumulation type (float32 for
    bfloat16 and float16) and the products are added in order, then rounded to out's type once,
    as the CPU's `c @ basis` does for a line's K = 2 (to the bit, measured). Blocks are spread
    over torch's threads, each on one (a few small operations per block: a barrier each would
    cost more than the block on a busy machine)."""
    from .sizing import map_single_threaded

    acc = torch.promote_types(out.dtype, torch.float32)
    coeffs = c.to(acc)
    blocks = [slice(lo, lo + BUILD_BLOCK) for lo in range(0, out.shape[-1], BUILD_BLOCK)]

    def build(share: list[slice]) -> None:
        term = torch.empty(BUILD_BLOCK, dtype=acc, device=out.device)
        total = None if acc == out.dtype else torch.empty_like(term)
        for row, coeff in zip(out, coeffs):
            for block in share:
                r = row[block]
                t = r if total is None else total[:len(r)]
                for k in range(len(coeff)):
                    u = t if k == 0 else term[:len(r)]
                    if acc == out.dtype:
                        torch.mul(basis[k][block], coeff[k], out=u)
                    else:  # the product in the accumulation type, not rounded to out's first
                        u.copy_(basis[k][block]).mul_(coeff[k])
                    if k:
                        t += u  # not add_(alpha=): that fuses the product, another rounding
                if total is not None:
                    r.copy_(t)

    threads = max(1, min(torch.get_num_threads(), len(blocks)))
    map_single_threaded(build, [blocks[i::threads] for i in range(threads)])
    return out
