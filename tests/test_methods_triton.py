"""Every method planned and run on the Triton backend in bf16 and fp16, against the float64 dense
reference under the plan's own token mask (on CUDA natively, else via TRITON_INTERPRET=1: tiny)."""

import os
import zlib

import pytest
import torch

# triton.jit picks the interpreter when the kernel module is imported, so this must come first.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

from dit_accel.grid import TokenGrid  # noqa: E402
from dit_accel.methods import Adaptive, Dense, Draft, Radial, Reordered, Window  # noqa: E402
from dit_accel.patterns.permutation import permute_tokens, unpermute_tokens  # noqa: E402
from dit_accel.quality.synthetic import synthetic_attention  # noqa: E402
from tests.helpers import rel_l2  # noqa: E402

METHODS = {
    "dense": lambda b: Dense(block_size=b),
    "radial": lambda b: Radial(decay=0.1, block_size=b),
    "window": lambda b: Window(window=(1, 4, 8), block_size=b),
    "draft": lambda b: Draft(density=0.4, block_size=b),
    "draft-mass": lambda b: Draft(mass=0.8, block_size=b),
    "reordered-axes": lambda b: Reordered("axes", density=0.4, block_size=b),
    "reordered-semantic": lambda b: Reordered("semantic", mass=0.8, block_size=b),
    "adaptive": lambda b: Adaptive(mass=0.8, block_size=b),
}
# (grid, block, head dim): the interpreter gets the tiny one only; CUDA also a larger one at block 128.
SIZES = {"2x8x8+text8-b32-d64": (TokenGrid(2, 8, 8, text_len=8), 32, 64)}
if DEVICE == "cuda":
    SIZES["4x16x32-b128-d128"] = (TokenGrid(4, 16, 32), 128, 128)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _masked_reference(q, k, v, plan):
    """float64 dense attention under the plan's token mask, in the natural token order: `[B, S, H, D]`."""
    perm = plan.permutation
    key_perm = perm if plan.key_permutation is None else plan.key_permutation
    qp = q.double() if perm is None else permute_tokens(q.double(), perm)
    kp, vp = (x.double() if key_perm is None else permute_tokens(x.double(), key_perm) for x in (k, v))
    out = torch.nn.functional.scaled_dot_product_attention(
        qp.transpose(1, 2), kp.transpose(1, 2), vp.transpose(1, 2), attn_mask=plan.layout.to_token_mask()
    ).transpose(1, 2)
    return out if perm is None else unpermute_tokens(out, perm)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("method", METHODS.keys())
def test_method_on_triton_matches_masked_reference(method, size, dtype):
    grid, block, head_dim = size
    data = synthetic_attention(grid, heads_per_type=1, head_dim=head_dim, seed=zlib.crc32(method.encode()))
    q, k, v = (x.to(DEVICE, dtype) for x in (data.q, data.k, data.v))
    plan = METHODS[method](block).plan(q, k, grid)
    assert plan.layout.device.type == DEVICE
    plan.backend = "triton"
    out = plan.run(q, k, v)
    assert out.dtype == dtype and out.shape == q.shape
    assert rel_l2(out, _masked_reference(q, k, v, plan)) < 1e-2
