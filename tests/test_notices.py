"""Calls that run dense say why: one warning per (cause, module kind) on the `dit_accel` logger, and
`handle.summary()["dense_causes"]` counts every call."""

from __future__ import annotations

import logging

import pytest
import torch

import dit_accel as da
from tests.tiny_models import tiny_hunyuan_video, tiny_wan


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dit_accel" and r.levelno == logging.WARNING]


def test_short_sequence_warns_once_and_counts_every_call(caplog: pytest.LogCaptureFixture) -> None:
    model, inputs, _ = tiny_wan()
    handle = da.accelerate(model, "radial", min_seq_len=10**6)
    with caplog.at_level(logging.WARNING, logger="dit_accel"), torch.no_grad():
        for t in (900.0, 700.0):
            model(**{**inputs, "timestep": torch.tensor([t])})
    warnings = _warnings(caplog)
    assert len(warnings) == 1
    assert "WanAttention" in warnings[0] and "min_seq_len" in warnings[0]
    layers = len(model.blocks)
    assert handle.summary()["dense_causes"] == {"sequence below min_seq_len": 2 * layers}


def test_schedule_dense_steps_are_counted_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    model, inputs, _ = tiny_wan()
    handle = da.accelerate(model, "radial", dense_steps=1, num_inference_steps=2)
    with caplog.at_level(logging.WARNING, logger="dit_accel"), torch.no_grad():
        for t in (900.0, 700.0):
            model(**{**inputs, "timestep": torch.tensor([t])})
    assert _warnings(caplog) == []
    assert handle.summary()["dense_causes"] == {"schedule": len(model.blocks)}


def test_unsupported_module_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    """HunyuanVideo's text refiner (plain Attention) runs its stock processor, densely."""
    model, inputs, _ = tiny_hunyuan_video(batch=2, text=6)
    handle = da.accelerate(model, "radial", block_size=16)
    with caplog.at_level(logging.WARNING, logger="dit_accel"), torch.no_grad():
        model(**inputs)
        model(**inputs)
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "unsupported module" in warnings[0] and "Attention" in warnings[0]
    causes = handle.summary()["dense_causes"]
    assert set(causes) == {"unsupported module"} and causes["unsupported module"] % 2 == 0


def test_attention_mask_runs_dense_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model, _, _ = tiny_wan()
    attn = model.blocks[0].attn1
    processor = da.SparseAttnProcessor(da.methods.Radial(block_size=16), grid=(2, 4, 4))
    q, k, v = torch.randn(3, 1, 32, 2, 12).unbind(0)
    mask = torch.rand(1, 1, 32, 32) > 0.3
    with caplog.at_level(logging.WARNING, logger="dit_accel"):
        out = processor.attend(attn, q, k, v, mask=mask)
        processor.attend(attn, q, k, v, mask=mask)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=mask
    ).transpose(1, 2)
    torch.testing.assert_close(out, expected)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and "WanAttention" in warnings[0] and "attention mask" in warnings[0]
