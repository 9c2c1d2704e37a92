"""Processors on tiny diffusers transformers: the dense layout reproduces each stock processor, sparse
methods give finite outputs at the density they report, grids are found or asked for."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention

from dit_accel.grid import TokenGrid
from dit_accel.methods import Dense, Radial
from dit_accel.models.tiny_random import wan_model
from dit_accel.processors import (
    FAMILIES,
    DenseProcessor,
    RadialProcessor,
    SparseAttnProcessor,
    adapter_for_transformer,
)
from dit_accel.processors.adapters.wan import rotary_video_grid
from tests.tiny_models import TINY_MODELS, tiny_hunyuan_video, tiny_wan


def _forward(model: torch.nn.Module, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


class _Spy(SparseAttnProcessor):
    """Counts the self-attention calls that reach the method path."""

    def __init__(self, method, **kwargs) -> None:
        super().__init__(method, **kwargs)
        self.seq_lens: list[int] = []

    def attend(self, attn, q, k, v, **kwargs):
        self.seq_lens.append(q.shape[1])
        return super().attend(attn, q, k, v, **kwargs)


@pytest.mark.parametrize("family", list(TINY_MODELS))
def test_dense_layout_reproduces_stock_processors(family: str) -> None:
    model, inputs, grid = TINY_MODELS[family]()
    reference = _forward(model, inputs)
    processor = _Spy(Dense(block_size=16), grid=grid)
    model.set_attn_processor(processor)
    out = _forward(model, inputs)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    assert processor.seq_lens, "no self-attention call went through the block-sparse path"
    video_len = grid[0] * grid[1] * grid[2]
    assert all(s >= video_len for s in processor.seq_lens)


@pytest.mark.parametrize("family", ["wan", "flux"])
def test_fused_qkv_projections(family: str) -> None:
    model, inputs, grid = TINY_MODELS[family]()
    reference = _forward(model, inputs)
    model.fuse_qkv_projections()
    model.set_attn_processor(DenseProcessor(block_size=16, grid=grid))
    torch.testing.assert_close(_forward(model, inputs), reference, rtol=1e-5, atol=1e-5)


def test_wan_i2v_keeps_the_image_context_branch_exact() -> None:
    model, inputs, grid = tiny_wan(image=True)
    assert all(block.attn2.add_k_proj is not None for block in model.blocks)
    reference = _forward(model, inputs)
    processor = _Spy(Dense(block_size=16))
    model.set_attn_processor(processor)
    torch.testing.assert_close(_forward(model, inputs), reference, rtol=1e-5, atol=1e-5)
    # Only attn1 (self-attention over the 3x8x8 video tokens) takes the method path.
    assert processor.seq_lens == [3 * 8 * 8] * len(model.blocks)


@pytest.mark.parametrize("shape", [(3, 16, 16), (1, 16, 12), (4, 2, 20), (2, 12, 2)], ids=str)
def test_wan_rotary_table_gives_the_grid(shape: tuple[int, int, int]) -> None:
    model = wan_model()
    frames, height, width = shape
    freqs_cos, _ = model.rope(torch.zeros(1, 4, frames, height, width))
    assert rotary_video_grid(freqs_cos) == (frames, height // 2, width // 2)


def test_bare_radial_processor_on_wan_finds_its_grid() -> None:
    model, inputs, grid = tiny_wan(frames=4)
    dense = _forward(model, inputs)
    model.set_attn_processor(RadialProcessor(decay=0.05, block_size=16))
    bare = _forward(model, inputs)
    model.set_attn_processor(RadialProcessor(decay=0.05, block_size=16, grid=grid))
    explicit = _forward(model, inputs)
    assert bare.shape == dense.shape and torch.isfinite(bare).all()
    torch.testing.assert_close(bare, explicit, rtol=0, atol=0)
    assert not torch.allclose(bare, dense, atol=1e-4), "the sparse mask changed nothing"
    tokens = torch.zeros(1, grid[0] * grid[1] * grid[2], 2, 12)
    assert Radial(decay=0.05, block_size=16).plan(tokens, tokens, TokenGrid(*grid)).density < 0.9


@pytest.mark.parametrize("family", ["hunyuan_video", "cogvideox", "ltx", "flux"])
def test_bare_processor_without_grid_asks_for_one(family: str) -> None:
    model, inputs, _ = TINY_MODELS[family]()
    model.set_attn_processor(RadialProcessor(block_size=16))
    with pytest.raises(ValueError, match=r"pass grid=\(frames, height, width\).*accelerate\(pipe"):
        _forward(model, inputs)


def test_wrong_grid_is_reported() -> None:
    model, inputs, _ = tiny_wan()
    model.set_attn_processor(RadialProcessor(block_size=16, grid=(3, 4, 4)))
    with pytest.raises(ValueError, match=r"3x4x4 \(48 tokens\).*192 tokens"):
        _forward(model, inputs)


def test_unsupported_module_lists_the_families() -> None:
    cross = Attention(query_dim=16, cross_attention_dim=8, heads=2, dim_head=8)  # UNet-style
    cross.set_processor(RadialProcessor())
    with pytest.raises(ValueError) as error:
        cross(torch.randn(1, 4, 16), encoder_hidden_states=torch.randn(1, 3, 8))
    message = str(error.value)
    assert "do not support Attention" in message
    for family in ("Wan", "HunyuanVideo", "CogVideoX", "LTX-Video", "Flux"):
        assert family in message
    assert len(FAMILIES) == 5
    with pytest.raises(ValueError, match="does not support Linear; supported families: Wan"):
        adapter_for_transformer(torch.nn.Linear(2, 2))


def test_padded_text_keys_are_ignored_by_the_sparse_path() -> None:
    """HunyuanVideo masks padded text keys: changing the padded embeddings must not change the video."""
    model, inputs, grid = tiny_hunyuan_video(batch=2, text=6)
    mask = inputs["encoder_attention_mask"]
    assert (mask.sum(1) < 6).any()
    processor = RadialProcessor(decay=0.05, block_size=16, grid=grid)
    grids = []
    run_sparse = processor._sparse
    processor._sparse = lambda site, q, k, v, grid: grids.append(grid) or run_sparse(site, q, k, v, grid)
    model.set_attn_processor(processor)
    out = _forward(model, inputs)
    noisy = dict(inputs, encoder_hidden_states=inputs["encoder_hidden_states"] + 5.0 * (1 - mask)[..., None])
    torch.testing.assert_close(_forward(model, noisy), out, rtol=1e-5, atol=1e-5)
    # Each batch element ran the method on its valid tokens only (video + its unpadded text).
    assert {g.text_len for g in grids} == set(mask.sum(1).tolist())


def test_attention_backend_setting_reaches_the_dense_path() -> None:
    model, inputs, _ = tiny_wan()
    reference = _forward(model, inputs)
    processor = DenseProcessor(block_size=16, min_seq_len=10_000)  # every call below min_seq_len: dense
    model.set_attn_processor(processor)
    model.set_attention_backend("native")
    assert processor._attention_backend == "native"
    torch.testing.assert_close(_forward(model, inputs), reference, rtol=1e-5, atol=1e-5)
    model.reset_attention_backend()
    assert processor._attention_backend is None


def test_processor_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="min_seq_len"):
        RadialProcessor(min_seq_len=-1)
    with pytest.raises(ValueError, match="TokenGrid frames"):
        RadialProcessor(grid=(0, 4, 4))
    with pytest.raises(TypeError):
        RadialProcessor(no_such_option=1)
