"""What every query shares: the `Query` base (canonical JSON and key), the typed `Endpoint`, and the
rules that need a run to check (dropout samples, the BatchNorm policy). Each kind's own query type
lives with its kind (compute/kinds/); `compute.kinds.resolve` resolves any of them.

Everything a user can type (CLI flags, form fields, URL parameters) becomes a query or is
refused with `BadInput`. `query.key()` hashes the canonical JSON plus the engine version: the same
key names the cache entry, the job and the Celery task. Run ids end with a digest of the run's
content, so a key that names a run names what it contains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import ClassVar

from . import ENGINE_VERSION
from models.errors import BadInput
from .validate import DEFAULT_BN, format_number, parse_int, parse_random_scale, parse_seed

RUN_ID = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_ENDPOINT = re.compile(rf"^(?:(init|final):({RUN_ID})(?:~({RUN_ID}))?|step:({RUN_ID}):([0-9]+)|random:([0-9]+)(?::([^:]+))?)$")


@dataclass(frozen=True)
class Endpoint:
    """A named point in parameter space: init:RUN, final:RUN, step:RUN:T, random:SEED[:SCALE], and
    final:RUN_B~RUN_A: RUN_B's theta_f with its hidden units permuted to match RUN_A's theta_f
    (weight matching, compute/align.py)."""

    kind: str  # "init" | "final" | "step" | "random"
    run: str | None = None
    step: int | None = None
    seed: int | None = None
    scale: float = 1.0
    aligned_to: str | None = None  # final:B~A: the run whose theta_f B's units are matched to

    @classmethod
    def of(cls, value: "Endpoint | str", field_name: str = "endpoint") -> "Endpoint":
        """`value` as an Endpoint: one already is, text is parsed (once, at the boundary)."""
        return value if isinstance(value, Endpoint) else cls.parse(value, field_name)

    @classmethod
    def parse(cls, text: str, field_name: str = "endpoint") -> "Endpoint":
        m = _ENDPOINT.match(str(text).strip())
        if not m:
            raise BadInput(f"malformed endpoint {text!r}: expected init:RUN, final:RUN, step:RUN:T, "
                           "random:SEED[:SCALE] or final:RUN_B~RUN_A", field=field_name)
        kind_run, run, aligned_to, step_run, step, seed, scale = m.groups()
        if aligned_to is not None and kind_run != "final":
            raise BadInput(f"only a final endpoint can be aligned (final:RUN_B~RUN_A), got {text!r}", field=field_name)
        if aligned_to is not None and aligned_to == run:
            raise BadInput(f"{text!r} aligns a run to itself: name another run after ~", field=field_name)
        if kind_run:
            return cls(kind_run, run=run, aligned_to=aligned_to)
        if step_run:
            return cls("step", run=step_run, step=parse_int(step, field_name, minimum=0, what="step"))
        scale_value = parse_random_scale(scale, field_name) if scale is not None else 1.0
        return cls("random", seed=parse_seed(seed, field_name, "random endpoint seed"), scale=scale_value)

    def __str__(self) -> str:
        if self.aligned_to is not None:
            return f"final:{self.run}~{self.aligned_to}"
        if self.kind in ("init", "final"):
            return f"{self.kind}:{self.run}"
        if self.kind == "step":
            return f"step:{self.run}:{self.step}"
        return f"random:{self.seed}:{format_number(self.scale)}"


class Query:
    """Base: canonical JSON and key. Subclasses are frozen dataclasses validated on creation."""

    kind: ClassVar[str]

    def to_json(self) -> dict:
        """Fields in order; an endpoint as its text (`str(endpoint)`), tuples as lists."""
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = str(v) if isinstance(v, Endpoint) else list(v) if isinstance(v, tuple) else v
        return out

    def canonical(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def key_salt(self) -> str:
        """What, besides the engine and the query, decides its values: the version of a method a kind
        of result depends on (curvature: compute/lanczos.py METHOD_VERSION); "" for most, whose keys
        are as they always were."""
        return ""

    def key(self) -> str:
        salt = self.key_salt()
        payload = f"landscape/{ENGINE_VERSION}/{salt + '/' if salt else ''}{self.canonical()}".encode()
        return f"{self.kind}-{hashlib.sha256(payload).hexdigest()[:40]}"



def resolve_endpoint(endpoint: Endpoint, store) -> Endpoint:
    """Expand a run-id prefix to the full id (which ends in the run's content digest)."""
    if endpoint.run is None:
        return endpoint
    run = store.load(endpoint.run)
    if endpoint.kind == "step" and endpoint.step not in run.steps:
        raise BadInput(f"run {run.id} has no checkpoint at step {endpoint.step}", field="endpoint")
    aligned_to = store.load(endpoint.aligned_to).id if endpoint.aligned_to is not None else None
    if aligned_to == run.id:
        raise BadInput(f"{endpoint} aligns run {run.id} to itself", field="endpoint")
    return Endpoint(endpoint.kind, run=run.id, step=endpoint.step, seed=endpoint.seed, scale=endpoint.scale,
                    aligned_to=aligned_to)


def default_bn_omitted(out: dict) -> dict:
    if out.get("bn") == DEFAULT_BN:  # queries of models without BatchNorm keep the keys they always had
        del out["bn"]
    return out


def check_run_id(run, field_name: str = "run") -> None:
    if not re.fullmatch(RUN_ID, str(run)):
        raise BadInput(f"malformed run id {run!r}", field=field_name)


# The rules that need the run: one each, applied where a query is resolved against the store
# (compute.kinds.resolve: CLI, API, jobs) and by the page against its run catalog (app/params.py).
def check_dropout(samples: int, uses_dropout: bool, model: str, field_name: str = "dropout_samples") -> None:
    """Monte-Carlo dropout samples only of a model with dropout (else they equal the plain cost)."""
    if samples and not uses_dropout:
        raise BadInput(f"{model} has no dropout: a Monte-Carlo dropout estimate would equal the plain cost "
                       "(ask for 0 dropout samples)", field=field_name)


def check_bn(policy: str, has_batchnorm: bool, model: str, field_name: str = "bn") -> None:
    """A BatchNorm policy other than the default only for a model with BatchNorm."""
    if policy != DEFAULT_BN and not has_batchnorm:
        raise BadInput(f"{model} has no BatchNorm: the policy bn={policy} does not apply (leave bn out)",
                       field=field_name)
