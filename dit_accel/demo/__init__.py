"""An embedded demo video DiT (a diffusers WanTransformer3DModel subclass, pixel space) trained by the
project on synthetic captioned videos, so generation, eval and the web demo work offline."""

from dit_accel.demo.config import TINY, DemoConfig
from dit_accel.demo.data import VideoSpec, make_batch, make_sample
from dit_accel.demo.describe import describe_video, video_to_frames
from dit_accel.demo.load import build_pipeline, load_demo_pipeline, weights_present
from dit_accel.demo.pipeline import DemoVideoPipeline, DemoVideoPipelineOutput
from dit_accel.demo.quality import EVAL_PROMPTS, EVAL_SPECS, attention_locality, caption_following
from dit_accel.demo.text import DemoTextEncoder
from dit_accel.demo.transformer import DemoWanTransformer

__all__ = [
    "EVAL_PROMPTS",
    "EVAL_SPECS",
    "TINY",
    "DemoConfig",
    "DemoTextEncoder",
    "DemoVideoPipeline",
    "DemoVideoPipelineOutput",
    "DemoWanTransformer",
    "VideoSpec",
    "attention_locality",
    "build_pipeline",
    "caption_following",
    "describe_video",
    "load_demo_pipeline",
    "make_batch",
    "make_sample",
    "video_to_frames",
    "weights_present",
]
