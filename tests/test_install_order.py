"""accelerate() among other installers (offload, diffusers cache hooks, LoRA): both orders work, and
remove() undoes only what accelerate() did."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from accelerate import cpu_offload
from diffusers import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig
from diffusers.models.attention_processor import AttnProcessor

from dit_accel.models.tiny_random import tiny_wan_pipeline
from dit_accel.pipelines import accelerate
from dit_accel.pipelines.hook import STEP_CONTEXT_HOOK
from dit_accel.processors.planning import SITE_ATTRIBUTE
from tests.helpers import wan_latents
from tests.tiny_models import tiny_wan

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def pipe():
    return tiny_wan_pipeline()


def generate(pipe, steps: int = 2) -> torch.Tensor:
    return wan_latents(pipe, steps=steps, height=64, width=64, num_frames=5)


def install_both(pipe, other: Callable[[], None], accelerate_first: bool):
    if accelerate_first:
        handle = accelerate(pipe, "dense", block_size=16)
        other()
        return handle
    other()
    return accelerate(pipe, "dense", block_size=16)


def assert_accelerate_gone(transformer: torch.nn.Module) -> None:
    registry = getattr(transformer, "_diffusers_hook", None)
    assert registry is None or registry.get_hook(STEP_CONTEXT_HOOK) is None
    assert not transformer._forward_pre_hooks
    assert not any(hasattr(module, SITE_ATTRIBUTE) for module in transformer.modules())


def count_calls(hook) -> list[int]:
    """Count the calls of an accelerate (library) hook's pre_forward, which its wrapper looks up on the
    hook object at every call."""
    calls: list[int] = []
    pre_forward = hook.pre_forward

    def counted(module, *args, **kwargs):
        calls.append(1)
        return pre_forward(module, *args, **kwargs)

    hook.pre_forward = counted
    return calls


@pytest.mark.parametrize("accelerate_first", [True, False], ids=["accelerate-first", "offload-first"])
def test_model_cpu_offload_in_both_orders_and_after_remove(accelerate_first: bool) -> None:
    pipe = tiny_wan_pipeline()
    stock = generate(pipe)
    handle = install_both(pipe, lambda: pipe.enable_model_cpu_offload(device=CPU), accelerate_first)
    outputs = [generate(pipe), generate(pipe)]
    handle.remove()
    # The pipeline re-installs its offload hooks after every call: both generations ran accelerated.
    assert {r.generation for r in handle.runtime.records} == {0, 1} and len(handle.runtime.records) == 16
    assert all(torch.equal(out, stock) for out in outputs)
    assert_accelerate_gone(pipe.transformer)
    calls = count_calls(pipe.transformer._hf_hook)  # the pipeline keeps this hook until its call ends
    assert torch.equal(generate(pipe), stock)
    assert len(calls) == 4  # the offload wrapper still runs: 2 steps x (cond, uncond)


@pytest.mark.parametrize("accelerate_first", [True, False], ids=["accelerate-first", "offload-first"])
def test_group_offload_in_both_orders_and_after_remove(accelerate_first: bool) -> None:
    pipe = tiny_wan_pipeline()
    stock = generate(pipe)

    def group_offload() -> None:
        pipe.transformer.enable_group_offload(
            onload_device=CPU, offload_device=CPU, offload_type="block_level", num_blocks_per_group=1
        )

    handle = install_both(pipe, group_offload, accelerate_first)
    assert torch.equal(generate(pipe), stock) and len(handle.runtime.records) == 8
    handle.remove()
    assert_accelerate_gone(pipe.transformer)
    assert pipe.transformer._diffusers_hook.get_hook("group_offloading") is not None
    assert torch.equal(generate(pipe), stock)


def transformer_steps(model: torch.nn.Module, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        for timestep in (900.0, 800.0):
            out = model(**dict(inputs, timestep=torch.tensor([timestep])), return_dict=False)[0]
    return out


@pytest.mark.parametrize("accelerate_first", [True, False], ids=["accelerate-first", "offload-first"])
def test_sequential_offload_in_both_orders_and_after_remove(accelerate_first: bool) -> None:
    """accelerate's `cpu_offload` (what `enable_sequential_cpu_offload` applies to each component; the
    tiny pipeline's text encoder cannot be offloaded that way on a CPU) wraps the transformer itself."""
    model, inputs, _ = tiny_wan()
    stock = transformer_steps(model, inputs)
    handle = install_both(model, lambda: cpu_offload(model, execution_device=CPU), accelerate_first)
    assert torch.equal(transformer_steps(model, inputs), stock) and len(handle.runtime.records) == 4
    handle.remove()
    assert_accelerate_gone(model)
    calls = count_calls(model._hf_hook)
    assert torch.equal(transformer_steps(model, inputs), stock) and len(calls) == 2


@pytest.mark.parametrize("accelerate_first", [True, False], ids=["accelerate-first", "lora-first"])
def test_lora_in_both_orders_and_after_remove(accelerate_first: bool) -> None:
    pytest.importorskip("peft")
    from peft import LoraConfig

    def add_lora(module: torch.nn.Module) -> None:
        torch.manual_seed(0)  # init_lora_weights=False draws random (non-zero) LoRA weights
        module.add_adapter(LoraConfig(r=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False))

    model, inputs, _ = tiny_wan()
    reference_model, _, _ = tiny_wan()
    add_lora(reference_model)
    reference = transformer_steps(reference_model, inputs)
    handle = install_both(model, lambda: add_lora(model), accelerate_first)
    assert torch.equal(transformer_steps(model, inputs), reference) and len(handle.runtime.records) == 4
    handle.remove()
    assert_accelerate_gone(model)
    assert torch.equal(transformer_steps(model, inputs), reference)


CACHES = {
    "FirstBlockCache": lambda: FirstBlockCacheConfig(threshold=0.5),
    "TaylorSeer": lambda: TaylorSeerCacheConfig(
        cache_interval=2,
        disable_cache_before_step=1,
        taylor_factors_dtype=torch.float32,
        cache_identifiers=[r"blocks\.\d+\.attn1"],
    ),
    "MagCache": lambda: MagCacheConfig(
        threshold=0.5, retention_ratio=0.0, num_inference_steps=4, mag_ratios=[1.0] * 4
    ),
}


@pytest.mark.parametrize("cache", list(CACHES))
def test_diffusers_cache_hooks_compose_in_both_orders_and_survive_remove(pipe, cache: str) -> None:
    """The dense method reproduces stock attention, so with a cache hook the output must equal the cache
    hook's own output; the cache skips attention calls (fewer than 4 steps x 2 branches x 2 layers)."""
    transformer = pipe.transformer
    transformer.enable_cache(CACHES[cache]())
    reference = generate(pipe, steps=4)
    transformer.disable_cache()
    for accelerate_first in (True, False):
        handle = install_both(pipe, lambda: transformer.enable_cache(CACHES[cache]()), accelerate_first)
        assert torch.equal(generate(pipe, steps=4), reference)
        assert 0 < len(handle.runtime.records) < 16
        handle.remove()
        assert_accelerate_gone(transformer)
        assert torch.equal(generate(pipe, steps=4), reference)
        transformer.disable_cache()


def test_remove_keeps_processors_that_others_set_later(pipe) -> None:
    originals = pipe.transformer.attn_processors
    handle = accelerate(pipe, "radial", block_size=16)
    foreign = AttnProcessor()
    pipe.transformer.blocks[0].attn1.set_processor(foreign)
    handle.remove()
    after = pipe.transformer.attn_processors
    assert after.pop("blocks.0.attn1.processor") is foreign
    assert all(after[name] is processor for name, processor in originals.items() if name in after)
