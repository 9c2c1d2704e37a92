"""Tiny pipelines of each supported family, built from configs with random weights: offline, seconds on a
CPU. They produce noise-like videos; they exist to test and try the tool, not to look at.

`<family>_model` builds a pipeline's transformer (tests run it alone); it seeds torch with `seed` first,
and the pipeline's VAE, built next, draws from that stream."""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderKLCogVideoX,
    AutoencoderKLHunyuanVideo,
    AutoencoderKLLTXVideo,
    AutoencoderKLWan,
    CogVideoXDDIMScheduler,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    HunyuanVideoPipeline,
    HunyuanVideoTransformer3DModel,
    LTXPipeline,
    LTXVideoTransformer3DModel,
    UniPCMultistepScheduler,
    WanPipeline,
    WanTransformer3DModel,
)

from dit_accel.models.tiny_random_text import clip, llama, t5, word_tokenizer


def wan_model(image: bool = False, layers: int = 2, seed: int = 0) -> WanTransformer3DModel:
    """Wan 2.1 T2V transformer (2 heads x 12 dims, patch (1, 2, 2)), or I2V with the image-context branch."""
    torch.manual_seed(seed)
    extra = {"image_dim": 8, "added_kv_proj_dim": 24} if image else {}
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=4,
        out_channels=4,
        text_dim=16,
        freq_dim=16,
        ffn_dim=32,
        num_layers=layers,
        rope_max_seq_len=32,
        **extra,
    ).eval()


def hunyuan_video_model(guidance: bool = True, seed: int = 0) -> HunyuanVideoTransformer3DModel:
    """HunyuanVideo transformer (2 heads x 12 dims, patch 1, one layer of each kind); `guidance`: embedded."""
    torch.manual_seed(seed)
    return HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=12,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=1,
        patch_size_t=1,
        guidance_embeds=guidance,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(4, 4, 4),
    ).eval()


def cogvideox_model(
    frames: int = 3,
    size: int = 16,
    text_len: int = 16,
    text_dim: int = 32,
    time_dim: int = 4,
    rotary: bool = False,
    seed: int = 0,
) -> CogVideoXTransformer3DModel:
    """CogVideoX 1.0 transformer (2 heads x 16 dims, patch 2) for `frames` x `size` x `size` latents and
    `text_len` text tokens; `rotary`: rotary embeddings (as the 5B model), else sincos positions (2B)."""
    torch.manual_seed(seed)
    return CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=4,
        out_channels=4,
        time_embed_dim=time_dim,
        text_embed_dim=text_dim,
        num_layers=1,
        sample_width=size,
        sample_height=size,
        sample_frames=4 * (frames - 1) + 1,
        patch_size=2,
        max_text_seq_length=text_len,
        use_rotary_positional_embeddings=rotary,
    ).eval()


def ltx_model(channels: int = 8, seed: int = 0) -> LTXVideoTransformer3DModel:
    """LTX-Video transformer (2 heads x 12 dims, patch 1) over `channels` latent channels."""
    torch.manual_seed(seed)
    return LTXVideoTransformer3DModel(
        in_channels=channels,
        out_channels=channels,
        num_attention_heads=2,
        attention_head_dim=12,
        cross_attention_dim=24,
        num_layers=1,
        caption_channels=16,
    ).eval()


def flux_model(guidance: bool = True, seed: int = 0) -> FluxTransformer2DModel:
    """Flux transformer (2 heads x 16 dims, patch 1, one layer of each kind); `guidance`: embedded (dev)."""
    torch.manual_seed(seed)
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        pooled_projection_dim=8,
        guidance_embeds=guidance,
        axes_dims_rope=(4, 6, 6),
    ).eval()


def tiny_wan_pipeline(two_experts: bool = False) -> WanPipeline:
    """WanPipeline: VAE 8x spatial / 4x temporal, transformer patch (1, 2, 2). `two_experts`: Wan 2.2 style,
    `transformer_2` takes the steps below timestep 800."""
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=4,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    ).eval()
    pipe = WanPipeline(
        tokenizer=word_tokenizer(),
        text_encoder=t5(16),
        vae=vae,
        transformer=wan_model(seed=1),
        scheduler=UniPCMultistepScheduler(
            flow_shift=3.0, prediction_type="flow_prediction", use_flow_sigmas=True
        ),
        transformer_2=wan_model(seed=2) if two_experts else None,
        boundary_ratio=0.8 if two_experts else None,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_hunyuan_video_pipeline() -> HunyuanVideoPipeline:
    """HunyuanVideoPipeline: VAE 8x / 4x, patch 1, Llama + CLIP text encoders, embedded guidance."""
    transformer = hunyuan_video_model()
    vae = AutoencoderKLHunyuanVideo(
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
    ).eval()
    pipe = HunyuanVideoPipeline(
        text_encoder=llama(16),
        tokenizer=word_tokenizer(),
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=clip(8),
        tokenizer_2=word_tokenizer(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_cogvideox_pipeline() -> CogVideoXPipeline:
    """CogVideoXPipeline (1.0, sincos positions as the 2B model): VAE 8x / 4x, patch 2, text first."""
    transformer = cogvideox_model()
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    ).eval()
    pipe = CogVideoXPipeline(
        tokenizer=word_tokenizer(),
        text_encoder=t5(32),
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(prediction_type="v_prediction", timestep_spacing="trailing"),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_ltx_pipeline() -> LTXPipeline:
    """LTXPipeline: VAE 4x spatial / 4x temporal (the real one: 32x / 8x), patch 1."""
    transformer = ltx_model()
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    ).eval()
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    pipe = LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=t5(16),
        tokenizer=word_tokenizer(),
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_flux_pipeline() -> FluxPipeline:
    """FluxPipeline (dev-like, embedded guidance): VAE 1x, 2x2 packing, CLIP + T5 text encoders."""
    transformer = flux_model()
    vae = AutoencoderKL(
        sample_size=32,
        block_out_channels=(4,),
        layers_per_block=1,
        latent_channels=1,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    ).eval()
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip(8),
        tokenizer=word_tokenizer(),
        text_encoder_2=t5(16),
        tokenizer_2=word_tokenizer(),
        transformer=transformer,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
