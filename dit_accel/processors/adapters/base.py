"""Adapter: how one model family runs an attention module, mirroring its stock diffusers processor.

An adapter does the family's own q/k/v projections, norms, rotary embedding, text handling and
output projection, and hands q/k/v `[B, S, H, D]` of a self-attention call to `Attend.attend`.
Calls it does not accelerate (cross-attention, image context, text refiners) run the family's
stock processor unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch


class Attend(Protocol):
    """The processor side: runs one self-attention call."""

    def attend(
        self,
        attn: torch.nn.Module,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        *,
        text_len: int | None = 0,
        text_first: bool = False,
        mask: torch.Tensor | None = None,
        key_len: torch.Tensor | None = None,
        grid_table: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


class Adapter:
    """One model family. Subclasses set the class attributes and implement the methods."""

    family: ClassVar[str]
    # The family's stock processor class (runs everything not accelerated).
    stock_class: ClassVar[type]
    # Transformer classes of the family and the ModuleList attributes that hold their blocks, in run order.
    transformer_classes: ClassVar[tuple[type, ...]] = ()
    blocks: ClassVar[tuple[str, ...]] = ()

    def matches(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None, rotary: Any) -> bool:
        """Whether this adapter handles `attn` called with these inputs."""
        raise NotImplementedError

    def stock(self) -> Callable[..., Any]:
        """A fresh stock processor of the family (used for everything not accelerated)."""
        return self.stock_class()

    def accelerates(self, attn: torch.nn.Module, encoder_hidden_states: torch.Tensor | None) -> bool:
        """Whether this call is a self-attention over the video tokens (the one to make sparse); by
        default every call the adapter matches is."""
        return True

    def forward(
        self,
        processor: Attend,
        attn: torch.nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        rotary: Any,
    ) -> Any:
        """The stock processor's computation with `processor.attend` as the attention."""
        raise NotImplementedError

    def video_grid(self, transformer: torch.nn.Module, inputs: dict[str, Any]) -> tuple[int, int, int] | None:
        """(frames, height, width) video tokens of a transformer forward called with `inputs` (its bound
        arguments), or None when the inputs do not form a full grid."""
        raise NotImplementedError

    def handles_transformer(self, transformer: torch.nn.Module) -> bool:
        return isinstance(transformer, self.transformer_classes)


def prepare_mask(
    attn: torch.nn.Module, mask: torch.Tensor | None, batch: int, seq_len: int
) -> torch.Tensor | None:
    """The stock processors' attention mask for `attn` (diffusers `Attention`-like), `[B, H, Sq, Sk]`."""
    if mask is None:
        return None
    mask = attn.prepare_attention_mask(mask, seq_len, batch)
    return mask.view(batch, attn.heads, -1, mask.shape[-1])
