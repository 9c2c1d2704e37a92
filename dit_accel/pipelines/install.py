"""What `accelerate()` changes on one transformer, and undoing exactly that.

Other installers wrap the same module: accelerate's offload hooks replace `forward` and keep the old one,
diffusers' hooks chain through the module's HookRegistry, group offload and LoRA add their own. So the
step is learnt in a torch forward pre-hook (run by `Module.__call__` whatever `forward` has become) and
removal changes only links that still point at what was installed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from diffusers.hooks import HookRegistry

from dit_accel.pipelines.hook import STEP_CONTEXT_HOOK, StepContextConfig, StepContextHook, apply_step_context
from dit_accel.pipelines.runtime import StepRuntime, attention_sites
from dit_accel.processors.adapters import adapter_for_transformer
from dit_accel.processors.parallel import share_context_parallel_config
from dit_accel.processors.planning import SITE_ATTRIBUTE


@dataclass
class Installed:
    """One accelerated transformer: its original processors by module name, the processor set on them,
    the attention modules given a site tensor, the step hook, the registry's forward wrapper for it, the
    forward pre-hook, and whether the module had a HookRegistry and an instance `forward` before."""

    name: str
    transformer: torch.nn.Module
    processors: dict[str, Any]
    processor: Any
    attention: list[torch.nn.Module]
    hook: StepContextHook
    wrapper: Any
    pre_hook: torch.utils.hooks.RemovableHandle
    had_registry: bool
    had_forward: bool


def install(name: str, module: torch.nn.Module, processor: Any, runtime: StepRuntime) -> Installed:
    """Set `processor` on every attention module of `module`, give each its site tensor and register the
    step hook."""
    had_registry = hasattr(module, "_diffusers_hook")
    had_forward = "forward" in module.__dict__
    processors = module.attn_processors
    attention = []
    for attn, site in attention_sites(name, module, adapter_for_transformer(module).blocks):
        setattr(attn, SITE_ATTRIBUTE, torch.tensor(len(runtime.sites)))
        runtime.sites.append(site)
        attention.append(attn)
    module.set_attn_processor(processor)
    hook = apply_step_context(module, StepContextConfig(runtime))
    pre_hook = module.register_forward_pre_hook(hook.on_forward, with_kwargs=True)
    return Installed(
        name,
        module,
        processors,
        processor,
        attention,
        hook,
        module.forward,
        pre_hook,
        had_registry,
        had_forward,
    )


def uninstall(item: Installed) -> None:
    """Undo `install`: processors still ours go back to the originals, site tensors and hooks go."""
    module = item.transformer
    current = module.attn_processors
    module.set_attn_processor(
        {
            name: item.processors[name] if processor is item.processor else processor
            for name, processor in current.items()
        }
    )
    share_context_parallel_config(module)
    for attn in item.attention:
        attn.__dict__.pop(SITE_ATTRIBUTE, None)
    item.pre_hook.remove()
    registry = getattr(module, "_diffusers_hook", None)
    if registry is not None and registry.get_hook(STEP_CONTEXT_HOOK) is item.hook:
        _unlink(registry, module, item)
        if not registry.hooks and not item.had_registry:
            del module._diffusers_hook


def _unlink(registry: HookRegistry, module: torch.nn.Module, item: Installed) -> None:
    """Take the step hook out of the registry and out of the forward chain. diffusers' `remove_hook`
    relinks the chain as if only the registry had wrapped `forward` (an offload hook installed on top
    would be dropped), so the one link to our wrapper is relinked here: `module.forward` or the next
    registry hook's forward. A wrapper that someone else captured stays as a pass-through (the hook does
    nothing in `forward`)."""
    index = registry._hook_order.index(STEP_CONTEXT_HOOK)
    below = registry._fn_refs[index].forward
    if index == len(registry._hook_order) - 1:
        if module.__dict__.get("forward") is item.wrapper:
            if item.had_forward:
                module.forward = below
            else:
                del module.forward
    else:
        after = registry._fn_refs[index + 1]
        attribute = "forward" if after.original_forward is None else "original_forward"
        if getattr(after, attribute) is item.wrapper:
            setattr(after, attribute, below)
    del registry.hooks[STEP_CONTEXT_HOOK]
    registry._hook_order.pop(index)
    registry._fn_refs.pop(index)
