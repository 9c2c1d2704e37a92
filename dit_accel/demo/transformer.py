"""DemoWanTransformer: diffusers' WanTransformer3DModel whose adaLN modulation also sees the caption."""

from __future__ import annotations

import functools

import torch
from diffusers import WanTransformer3DModel

# diffusers' pipeline loader finds a custom component's base class by name in the component's module.
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401
from diffusers.models.transformers.transformer_wan import WanTimeTextImageEmbedding


class CaptionTimeEmbedding(WanTimeTextImageEmbedding):
    """Wan's time and text embedding, with the caption's summed word vectors, projected, added to the
    time embedding.

    Wan hears text only through cross-attention, which adds a caption-dependent vector to each token;
    "moving left" needs the caption to change how a token's frame and column combine (the object is
    where column + speed x frame is small), a product that a 1 M-parameter model learns slowly from
    sums. Through the time embedding the caption scales and shifts every block's activations (adaLN,
    as a class label does in DiT, or the pooled text in Flux and SD3), which is that product.
    A sum, not a mean: Adam moves each weight by about the learning rate whatever the input's scale,
    so with a mean over 12 positions one word changed the modulation 12 times more slowly (2% apart
    for "left" and "right" after 1,250 steps). Zero-initialised, so training starts from Wan's own
    modulation."""

    def __init__(self, dim: int, text_embed_dim: int, **kwargs) -> None:
        super().__init__(dim=dim, text_embed_dim=text_embed_dim, **kwargs)
        self.caption_embedder = torch.nn.Linear(text_embed_dim, dim)
        torch.nn.init.zeros_(self.caption_embedder.weight)
        torch.nn.init.zeros_(self.caption_embedder.bias)

    def forward(
        self,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
        timestep_seq_len: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """encoder_hidden_states [B, L, text_dim] -> (temb [B, dim], timestep_proj [B, 6 dim], context
        [B, L, dim], image context or None), as the parent returns them."""
        temb, _, context, image = super().forward(
            timestep, encoder_hidden_states, encoder_hidden_states_image, timestep_seq_len
        )
        caption = self.caption_embedder(encoder_hidden_states.sum(1)).type_as(temb)
        temb = temb + (caption.unsqueeze(1) if temb.ndim == 3 else caption)
        return temb, self.time_proj(self.act_fn(temb)), context, image


class DemoWanTransformer(WanTransformer3DModel):
    """A `WanTransformer3DModel` (same config, blocks, attention and processors) whose condition
    embedder is `CaptionTimeEmbedding`."""

    # The parent's signature, so diffusers' config loading sees the real arguments.
    @functools.wraps(WanTransformer3DModel.__init__)
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        config = self.config
        inner_dim = config.num_attention_heads * config.attention_head_dim
        self.condition_embedder = CaptionTimeEmbedding(
            dim=inner_dim,
            time_freq_dim=config.freq_dim,
            time_proj_dim=inner_dim * 6,
            text_embed_dim=config.text_dim,
            image_embed_dim=config.image_dim,
            pos_embed_seq_len=config.pos_embed_seq_len,
        )
