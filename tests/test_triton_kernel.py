"""Triton block-sparse forward kernel vs the float64 dense reference (on the CPU via TRITON_INTERPRET=1)."""

import os
import zlib

import pytest
import torch

# triton.jit picks the interpreter when the kernel module is imported, so this must come first.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

from triton.runtime.interpreter import InterpretedFunction  # noqa: E402

import dit_accel  # noqa: E402
from dit_accel.kernels.block_sparse.naive import block_sparse_attention_naive  # noqa: E402
from dit_accel.kernels.block_sparse.triton_fwd import (  # noqa: E402
    block_sparse_attention_fwd,
    block_sparse_attention_fwd_kernel,
)

if DEVICE == "cpu" and not isinstance(block_sparse_attention_fwd_kernel.fn, InterpretedFunction):
    raise RuntimeError(
        "triton_fwd was imported before TRITON_INTERPRET=1 was set: run pytest with TRITON_INTERPRET=1"
    )

# Rows with no key blocks take log2(0) = -inf on purpose; numpy (the interpreter) warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log2:RuntimeWarning")

TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float16: 1e-2}
LSE_TOL = {torch.float32: 1e-4, torch.bfloat16: 1e-3, torch.float16: 1e-3}
DTYPE_NAME = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def random_mask(gen: torch.Generator, bl: int, hl: int, nq: int, nk: int, kind: str) -> torch.Tensor:
    """Bool block mask [bl, hl, nq, nk]: "one" block per row, "random" with empty rows, "dense", "empty"."""
    if kind == "dense":
        return torch.ones(bl, hl, nq, nk, dtype=torch.bool)
    if kind == "empty":
        return torch.zeros(bl, hl, nq, nk, dtype=torch.bool)
    if kind == "one":
        cols = torch.randint(nk, (bl, hl, nq, 1), generator=gen)
        return torch.zeros(bl, hl, nq, nk, dtype=torch.bool).scatter_(-1, cols, True)
    density = torch.rand(bl, hl, 1, 1, generator=gen) * 0.6 + 0.2  # differs per batch and head
    mask = torch.rand(bl, hl, nq, nk, generator=gen) < density
    mask &= torch.rand(bl, hl, nq, 1, generator=gen) > 0.15  # some rows attend to nothing
    mask[0, 0, 0] = False
    return mask


def case(b, h, sq, sk, d, bq, bk, bl, hl, kind, dtype):
    name = f"s{sq}" if sq == sk else f"sq{sq}-sk{sk}"
    bcast = f"L{bl}x{hl}"
    return pytest.param(
        b, h, sq, sk, d, bq, bk, bl, hl, kind, dtype,
        id=f"{name}-bq{bq}-bk{bk}-d{d}-b{b}h{h}-{bcast}-{kind}-{DTYPE_NAME[dtype]}",
    )  # fmt: skip


CASES = [
    case(1, 2, 1000, 1000, 64, 64, 64, 1, 2, "random", torch.float32),
    case(2, 1, 333, 333, 64, 64, 64, 2, 1, "random", torch.bfloat16),
    case(2, 2, 64, 64, 128, 64, 64, 1, 1, "dense", torch.float16),
    case(1, 2, 333, 1000, 64, 128, 64, 1, 2, "one", torch.float32),
    case(1, 2, 1000, 333, 128, 64, 128, 1, 2, "random", torch.bfloat16),
    case(2, 2, 333, 333, 12, 32, 32, 2, 2, "random", torch.float32),
    case(1, 2, 100, 70, 72, 8, 4, 1, 2, "random", torch.float16),
    case(1, 1, 1000, 1000, 64, 128, 128, 1, 1, "one", torch.float16),
    case(1, 1, 64, 1000, 64, 64, 64, 1, 1, "dense", torch.float32),
    case(2, 1, 333, 333, 64, 16, 256, 1, 1, "random", torch.bfloat16),
    case(1, 2, 333, 200, 64, 64, 64, 1, 2, "empty", torch.float32),
]


def run_case(b, h, sq, sk, d, bq, bk, bl, hl, kind, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    nq, nk = -(-sq // bq), -(-sk // bk)
    layout = dit_accel.BlockLayout.from_mask(random_mask(gen, bl, hl, nq, nk, kind), sq, sk, bq, bk).to(
        DEVICE
    )
    # q with a padded head dim and k/v packed in one tensor, so every stride differs from contiguous.
    q = torch.randn(b, sq, h, d + 8, generator=gen)[..., :d].to(DEVICE, dtype)
    kv = torch.randn(b, sk, 2, h, d, generator=gen).to(DEVICE, dtype)
    k, v = kv[:, :, 0], kv[:, :, 1]
    scale = 1.3 / d**0.5
    out = torch.full((b, sq, h, d), float("nan"), dtype=dtype, device=DEVICE)
    res, lse = block_sparse_attention_fwd(
        q, k, v, layout.kv_counts, layout.kv_indices, bq, bk, scale, out=out, input_precision="ieee"
    )
    ref, ref_lse = block_sparse_attention_naive(
        q.double(), k.double(), v.double(), layout.kv_counts, layout.kv_indices, bq, bk, scale,
        compute_dtype=torch.float64,
    )  # fmt: skip
    return res, lse, out, ref, ref_lse


@pytest.mark.parametrize("b, h, sq, sk, d, bq, bk, bl, hl, kind, dtype", CASES)
def test_kernel_matches_reference(request, b, h, sq, sk, d, bq, bk, bl, hl, kind, dtype):
    seed = zlib.crc32(request.node.callspec.id.encode())
    res, lse, out, ref, ref_lse = run_case(b, h, sq, sk, d, bq, bk, bl, hl, kind, dtype, seed)
    assert res is out and res.dtype == dtype and lse.dtype == torch.float32
    assert lse.shape == (b, h, sq)
    assert not res.isnan().any() and not lse.isnan().any()

    empty = torch.isinf(ref_lse)  # [B, H, Sq]
    assert torch.equal(torch.isinf(lse), empty) and (lse[empty] < 0).all()
    assert (res.transpose(1, 2)[empty] == 0).all()
    if kind == "empty":
        return
    err = ((res.double() - ref).norm() / ref.norm()).item()
    assert err < TOL[dtype], f"relative L2 error {err:.2e}"
    lse_err = (lse[~empty].double() - ref_lse[~empty].double()).abs().max().item()
    assert lse_err < LSE_TOL[dtype], f"max LSE error {lse_err:.2e}"


@pytest.mark.parametrize("return_lse", [False, True], ids=["out", "out+lse"])
def test_public_entry_point(monkeypatch, return_lse):
    monkeypatch.setenv("TRITON_F32_DEFAULT", "ieee")
    b, h, sq, sk, d = 2, 2, 200, 150, 64
    mask = torch.rand(1, h, 4, 3) < 0.5
    mask[0, 1, 2] = False
    layout = dit_accel.BlockLayout.from_mask(mask, sq, sk, 64, 64).to(DEVICE)
    q = torch.randn(b, sq, h, d, device=DEVICE)
    k, v = torch.randn(2, b, sk, h, d, device=DEVICE)
    got = dit_accel.block_sparse_attention(q, k, v, layout, return_lse=return_lse, backend="triton")
    want = dit_accel.block_sparse_attention(
        q.double(), k.double(), v.double(), layout, return_lse=return_lse, backend="reference"
    )
    if return_lse:
        (got, lse), (want, want_lse) = got, want
        torch.testing.assert_close(lse, want_lse, atol=1e-4, rtol=0)
    assert got.shape == q.shape and got.dtype == q.dtype
    assert ((got.double() - want).norm() / want.norm()).item() < 1e-5


def test_float64_is_rejected():
    layout = dit_accel.BlockLayout.dense(16, 16, 16, 16, device=DEVICE)
    q = torch.randn(1, 16, 1, 16, dtype=torch.float64, device=DEVICE)
    with pytest.raises(ValueError, match="torch.float64"):
        dit_accel.block_sparse_attention(q, q, q, layout, backend="triton")


def test_out_of_wrong_dtype_is_rejected():
    layout = dit_accel.BlockLayout.dense(16, 16, 16, 16, device=DEVICE)
    q = torch.randn(1, 16, 1, 16, device=DEVICE)
    out = torch.empty_like(q, dtype=torch.float16)
    with pytest.raises(ValueError, match="out must be"):
        block_sparse_attention_fwd(q, q, q, layout.kv_counts, layout.kv_indices, 16, 16, 0.25, out=out)
