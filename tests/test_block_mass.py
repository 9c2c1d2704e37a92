"""Block attention mass: torch and Triton backends vs the float64 dense reference (Triton on the CPU
via TRITON_INTERPRET=1)."""

import os
import zlib

import pytest
import torch

# triton.jit picks the interpreter when the kernel module is imported, so this must come first.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ.setdefault("TRITON_INTERPRET", "1")

import dit_accel as da  # noqa: E402
from dit_accel.kernels.block_mass import block_attention_mass  # noqa: E402
from tests.helpers import rel_l2  # noqa: E402

TOL = {torch.float32: 1e-5, torch.bfloat16: 1e-3}


def case(b, h, sq, sk, bq, bk, d):
    name = f"s{sq}" if sq == sk else f"sq{sq}-sk{sk}"
    return pytest.param(b, h, sq, sk, bq, bk, d, id=f"{name}-bq{bq}-bk{bk}-d{d}-b{b}h{h}")


CASES = [
    case(1, 2, 333, 333, 64, 64, 64),
    case(1, 1, 1000, 1000, 64, 64, 64),
    case(2, 1, 500, 260, 128, 32, 40),
    case(1, 1, 200, 200, 16, 128, 128),
]


def _inputs(b, h, sq, sk, d, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    # Scaled keys make the softmax peaked, so the map is far from uniform.
    q = torch.randn(b, sq, h, d, generator=g)
    k = torch.randn(b, sk, h, d, generator=g) * 2.0
    return q.to(DEVICE, dtype), k.to(DEVICE, dtype)


@pytest.mark.parametrize("b, h, sq, sk, bq, bk, d", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_backend_matches_reference(backend, dtype, b, h, sq, sk, bq, bk, d):
    if backend == "torch" and DEVICE == "cuda":
        pytest.skip("the torch path is checked on the CPU")
    q, k = _inputs(b, h, sq, sk, d, dtype, zlib.crc32(f"{sq}-{sk}-{d}".encode()))
    ref = block_attention_mass(q, k, bq, bk, backend="reference")
    mass = block_attention_mass(q, k, bq, bk, backend=backend)
    assert mass.dtype == torch.float32 and mass.shape == (b, h, -(-sq // bq), -(-sk // bk))
    assert rel_l2(mass, ref) < TOL[dtype]
    assert torch.allclose(mass.sum(-1), torch.ones_like(mass[..., 0]), atol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_given_lse_from_dense_attention_matches(backend):
    q, k = _inputs(2, 2, 300, 300, 32, torch.float32, 3)
    layout = da.BlockLayout.dense(300, 300, 64, 64, device=q.device)
    _, lse = da.block_sparse_attention(q, k, k, layout, scale=0.3, return_lse=True)
    ref = block_attention_mass(q, k, 64, 32, scale=0.3, backend="reference")
    assert rel_l2(block_attention_mass(q, k, 64, 32, scale=0.3, lse=lse, backend=backend), ref) < 1e-5


@pytest.mark.parametrize("rows", [16, 40, 96], ids=["inside-a-block", "straddling", "over-blocks"])
@pytest.mark.parametrize("with_lse", [False, True], ids=["own-softmax", "lse"])
def test_torch_pieces_of_query_rows_add_up(monkeypatch, rows, with_lse):
    # Pieces of `rows` query rows: within one query block, across block edges, over several blocks.
    from dit_accel.kernels.block_mass import torch_mass

    monkeypatch.setattr(torch_mass, "_PIECE_BYTES", rows * 260 * 4)
    q, k = _inputs(2, 2, 300, 260, 32, torch.float32, 4)
    scores = torch.einsum("bqhd,bkhd->bhqk", q.double(), k.double()) * 0.3
    lse = scores.logsumexp(-1).float() if with_lse else None
    ref = block_attention_mass(q, k, 32, 64, scale=0.3, backend="reference")
    mass = block_attention_mass(q, k, 32, 64, scale=0.3, lse=lse, backend="torch")
    assert rel_l2(mass, ref) < 1e-5


def test_triton_reads_strided_views():
    g = torch.Generator().manual_seed(5)
    qk = torch.randn(1, 260, 2, 2, 48, generator=g).to(DEVICE)  # a fused projection: q/k are strided views
    q, k = qk.unbind(2)
    ref = block_attention_mass(q.contiguous(), k.contiguous(), 64, 64, backend="reference")
    assert rel_l2(block_attention_mass(q, k, 64, 64, backend="triton"), ref) < 1e-5


def test_peaked_attention_concentrates_on_the_matching_block():
    # Each query equals one key scaled up: its mass sits in that key's block.
    k = torch.nn.functional.normalize(torch.randn(1, 256, 1, 32), dim=-1) * 20.0
    mass = block_attention_mass(k, k, 64, 64)
    assert torch.all(mass[0, 0].diagonal() > 0.99)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backend": "cuda"}, "backend must be one of triton, torch, reference"),
        ({"block_q": 48}, "block_q must be a power of two >= 16"),
        ({"block_k": 8}, "block_k must be a power of two >= 16"),
        ({"lse": torch.zeros(1, 2, 99)}, r"lse must be \[B, H, Sq\]"),
    ],
    ids=["backend", "block_q", "block_k", "lse-shape"],
)
def test_bad_arguments_raise(kwargs, match):
    q = torch.randn(1, 100, 2, 16)
    args = {"block_q": 64, "block_k": 64, **kwargs}
    with pytest.raises(ValueError, match=match):
        block_attention_mass(q, q, **args)


def test_mismatched_heads_raise():
    with pytest.raises(ValueError, match="must share batch, heads and head dim"):
        block_attention_mass(torch.randn(1, 64, 2, 16), torch.randn(1, 64, 3, 16), 64, 64)
