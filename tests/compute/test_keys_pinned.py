"""Today's keys, pinned: a query's key names its cache entry, its job and its Celery task, so moving
a query class or re-typing a field must leave every key (and the canonical JSON it hashes) as it
was. The literals were computed before the query classes moved (issue 19); never regenerate them,
except the curvature keys (Hessian queries, sharpness lines, the Hessian plane), changed on purpose
when the Lanczos stop rule changed their values (compute/lanczos.py METHOD_VERSION "2", the
keys' salt): their canonical JSON is unchanged."""

import pytest

from compute.kinds.hessian import HessianQuery
from compute.kinds.control import ControlQuery
from compute.kinds.line import LineQuery
from compute.kinds.surface.query import SurfaceQuery
from compute.kinds.train import TrainQuery
from compute.kinds.trajectory import TrajectoryQuery

RUN = "relu-mnist-small-s0-0123456789ab"
RUN2 = "relu-mnist-small-s1-ba9876543210"

PINNED = {
    "line_fixed": ('{"alpha_max":1.5,"alpha_min":-0.5,"dtype":"float32","end":"final:relu-mnist-small-s0-0123456789ab","kind":"line","points":41,"splits":["train","valid"],"start":"init:relu-mnist-small-s0-0123456789ab"}',
        "line-5fa81ebb7dfc8439674f936edc4b1924d673a902"),
    "line_random_end": ('{"alpha_max":1.0,"alpha_min":0.0,"dtype":"float32","end":"final:relu-mnist-small-s0-0123456789ab","kind":"line","points":25,"splits":["train"],"start":"random:3:10"}',
        "line-9a39f75d9a57cff1301a208c315ab92d09219804"),
    "line_adaptive": ('{"alpha_max":1.0,"alpha_min":0.0,"dtype":"float32","end":"final:relu-mnist-small-s0-0123456789ab","kind":"line","points":"auto","splits":["train"],"start":"final:relu-mnist-small-s1-ba9876543210~relu-mnist-small-s0-0123456789ab","tolerance":0.01}',
        "line-ab02338e8c7d324a316e790833769c5290e37ba9"),
    "line_derivatives": ('{"alpha_max":1.0,"alpha_min":0.0,"derivatives":true,"dtype":"float32","end":"final:relu-mnist-small-s0-0123456789ab","kind":"line","points":11,"splits":["train"],"start":"step:relu-mnist-small-s0-0123456789ab:30"}',
        "line-0c6d3982a632f116243005cb002d41ba917233cb"),
    "line_dropout": ('{"alpha_max":1.0,"alpha_min":0.0,"dropout_samples":4,"dtype":"float32","end":"final:relu-mnist-small-s0-0123456789ab","kind":"line","points":9,"splits":["valid"],"start":"init:relu-mnist-small-s0-0123456789ab"}',
        "line-5d1f17a22968a2ee73955cda577a4a211b1639ad"),
    "line_sharpness_bn": ('{"alpha_max":1.0,"alpha_min":0.0,"bn":"recompute","dtype":"float32","end":"final:relu-mnist-small-s0-0123456789ab","kind":"line","points":9,"sharpness":4,"splits":["train"],"start":"init:relu-mnist-small-s0-0123456789ab"}',
        "line-2dc57f8f86b316211a2d07e40be0f209958648f9"),
    "surface_paper": ('{"alpha_max":null,"alpha_min":null,"beta_max":null,"beta_min":null,"columns":17,"dtype":"float32","kind":"surface","normalization":null,"rows":21,"run":"relu-mnist-small-s0-0123456789ab","scale":null,"seed":null,"splits":["train"],"surface":"paper"}',
        "surface-773b1964f6d697c09a7277d7cea1ff01c1e723aa"),
    "surface_random_plane": ('{"alpha_max":1.0,"alpha_min":-1.0,"beta_max":0.5,"beta_min":-0.5,"columns":11,"dtype":"float32","kind":"surface","normalization":"filter","rows":11,"run":"relu-mnist-small-s0-0123456789ab","scale":2.0,"seed":7,"splits":["train","valid"],"surface":"random-plane"}',
        "surface-9dce27a4762644761795d3e5d7bfda0386d89b40"),
    "surface_alpha_random": ('{"alpha_max":null,"alpha_min":null,"beta_max":null,"beta_min":null,"bn":"recompute","columns":9,"dtype":"float32","kind":"surface","normalization":null,"rows":9,"run":"relu-mnist-small-s0-0123456789ab","scale":null,"seed":0,"splits":["train"],"surface":"alpha-random"}',
        "surface-504772feab8ec212f5d64e8140d01db3cb3627bf"),
    "surface_hessian": ('{"alpha_max":null,"alpha_min":null,"beta_max":null,"beta_min":null,"columns":15,"dtype":"float32","kind":"surface","normalization":null,"rows":15,"run":"relu-mnist-small-s0-0123456789ab","scale":null,"seed":3,"splits":["train"],"surface":"hessian"}',
        "surface-811f8d5fc9f8d968720cd7768a60f8b73f16ed5c"),
    "trajectory": ('{"kind":"trajectory","run":"relu-mnist-small-s0-0123456789ab"}',
        "trajectory-36b713ba81654b23ce1f4fc1d178ea42c0169228"),
    "control_random_walk": ('{"experiment":"random-walk","kind":"control","params":{"dims":[2,10],"seeds":[0,1,2],"solution_step":900,"steps":1000},"run":null}',
        "control-06fe3caaf3812c0beb8b7673d3d0d115dd03a3e8"),
    "control_extremes": ('{"experiment":"extremes","kind":"control","params":{"splits":["train"]},"run":"relu-mnist-small-s0-0123456789ab"}',
        "control-59fc9c67f17b048ee893fe0dbd9b566a400725ce"),
    "hessian_point": ('{"at":"final:relu-mnist-small-s0-0123456789ab","bottom":0,"density":false,"dtype":"float32","iterations":100,"kind":"hessian","seed":0,"splits":["train"],"tolerance":0.001,"top":3,"trace":true,"trace_method":"hutchinson","trace_probes":30}',
        "hessian-4a10a006e182e78bd3fefe71a34bd3d11f7e9fce"),
    "hessian_on_line": ('{"alpha":0.5,"at":"init:relu-mnist-small-s0-0123456789ab","bn":"recompute","bottom":0,"broadening":0.05,"density":true,"density_probes":4,"density_steps":40,"dtype":"float32","iterations":100,"kind":"hessian","seed":0,"splits":["train"],"to":"final:relu-mnist-small-s0-0123456789ab","tolerance":0.001,"top":1,"trace":false}',
        "hessian-77e8d9c05175a92d51299771093026bd89df5b7b"),
    "train": ('{"kind":"train","model":"relu-mnist","preset":"small","seed":2}',
        "train-ded4b50e15126fed7a4a8fcc1c330172c692b70a"),
}


def queries() -> dict:
    return {
 "line_fixed": LineQuery.from_args(f"init:{RUN}", f"final:{RUN}", "-0.5:1.5", 41, "train,valid"),
 "line_random_end": LineQuery.from_args("random:3:10", f"final:{RUN}", "0:1", 25, "train"),
 "line_adaptive": LineQuery.from_args(f"final:{RUN2}~{RUN}", f"final:{RUN}", "0:1", "auto", "train", tolerance=0.01),
 "line_derivatives": LineQuery.from_args(f"step:{RUN}:30", f"final:{RUN}", "0:1", 11, "train", derivatives=True, bn="interpolate"),
 "line_dropout": LineQuery.from_args(f"init:{RUN}", f"final:{RUN}", "0:1", 9, "valid", dropout_samples=4),
 "line_sharpness_bn": LineQuery.from_args(f"init:{RUN}", f"final:{RUN}", "0:1", 9, "train", bn="recompute", sharpness=4),
 "surface_paper": SurfaceQuery.from_args(RUN, "paper", points="21x17"),
 "surface_random_plane": SurfaceQuery.from_args(RUN, "random-plane", "-1:1", "-0.5:0.5", "11x11", "train,valid", seed=7, scale=2.0, normalization="filter"),
 "surface_alpha_random": SurfaceQuery.from_args(RUN, "alpha-random", points="9x9", bn="recompute"),
 "surface_hessian": SurfaceQuery.from_args(RUN, "hessian", points="15x15", seed=3),
 "trajectory": TrajectoryQuery(RUN),
 "control_random_walk": ControlQuery("random-walk", None, (("dims", "2,10"),)),
 "control_extremes": ControlQuery("extremes", RUN, ()),
 "hessian_point": HessianQuery(f"final:{RUN}", top=3, trace=True),
 "hessian_on_line": HessianQuery(f"init:{RUN}", to=f"final:{RUN}", alpha=0.5, density=True, bn="recompute"),
 "train": TrainQuery("relu-mnist", "small", 2),
    }


@pytest.mark.parametrize("name", sorted(PINNED))
def test_key_and_canonical_json_are_unchanged(name):
    query = queries()[name]
    canonical, key = PINNED[name]
    assert query.canonical() == canonical
    assert query.key() == key


@pytest.mark.parametrize("name", sorted(PINNED))
def test_a_query_read_back_from_its_json_has_the_same_key(name):
    query = queries()[name]
    again = type(query).from_json(query.to_json())
    assert again == query
    assert again.key() == PINNED[name][1]
