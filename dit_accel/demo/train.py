"""Train the demo video model with rectified flow on synthetic captioned videos.

    python -m dit_accel.demo.train --out runs/demo --threads 2 --export dit_accel/demo/weights

Run again with the same --out to resume from its latest checkpoint. Batch b of step s is drawn from
seed (--seed, s), so the same seed and steps give the same weights (on the same machine and threads).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dit_accel.atomic import json_text
from dit_accel.demo.checkpoint import (
    checkpoint_dir,
    checkpoints,
    load_state,
    save_checkpoint,
    save_pipeline_atomically,
)
from dit_accel.demo.config import TINY, DemoConfig
from dit_accel.demo.data import make_batch
from dit_accel.demo.load import build_pipeline
from dit_accel.demo.pipeline import DemoVideoPipeline, with_coordinates
from dit_accel.demo.quality import HELD_OUT_SPECS

CAPTION_DROP = 0.1  # captions replaced by the unconditional context, for classifier-free guidance
# Extra loss weight on the pixels within OBJECT_REACH pixels of the object: a circle and a square of the
# same colour and place differ in 2% of the frame, so under a plain mean the shape word moves the loss
# too little to be learned (the previous model drew shapes at chance).
OBJECT_WEIGHT, OBJECT_REACH = 3.0, 2


def _lengths(text: str) -> tuple[int, ...]:
    """ "9,17,33" -> (9, 17, 33); each a positive frame count."""
    try:
        lengths = tuple(int(part) for part in text.split(","))
    except ValueError:
        lengths = ()
    if not lengths or min(lengths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive frame counts like 9,17,33, got {text!r}")
    return lengths


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dit_accel.demo.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder: checkpoints/ and log.jsonl")
    parser.add_argument(
        "--steps", type=int, default=2400, help="total optimizer steps (the lr schedule's length)"
    )
    parser.add_argument(
        "--minutes", type=float, default=None, help="stop (and checkpoint) after this wall time"
    )
    parser.add_argument("--until", type=int, default=None, help="stop (and checkpoint) after this step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--coarse-steps",
        type=int,
        default=900,
        help="first steps on frames of --coarse-size pixels, the batch grown to keep the token count",
    )
    parser.add_argument(
        "--coarse-size", type=int, default=32, help="frame side (pixels) of the coarse steps, a multiple of 4"
    )
    parser.add_argument(
        "--clip-lengths",
        type=_lengths,
        default=(9, 17, 33),
        metavar="LIST",
        help="frames per clip, comma-separated; each step draws one, the batch scaled to keep the token "
        "count (default 9,17,33)",
    )
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="autocast dtype; auto: bf16 on CUDA and on CPUs with native bf16 (1.5x faster here), else fp32",
    )
    parser.add_argument("--export", type=Path, default=None, help="write the final EMA pipeline here too")
    parser.add_argument("--ema", type=float, default=0.995, help="EMA decay of the shipped weights")
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--save-every", type=int, default=250)
    parser.add_argument("--keep", type=int, default=2, help="checkpoints kept")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 is faster on a busy box)"
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the transformer (off: slow start)"
    )
    parser.add_argument("--tiny", action="store_true", help="the unit-test model size (seconds per step)")
    args = parser.parse_args(argv)
    patch = DemoConfig().patch_size[1]  # the tiny config shares it
    if args.coarse_size <= 0 or args.coarse_size % patch:
        parser.error(
            f"--coarse-size must be a positive multiple of the patch side {patch}, got {args.coarse_size}"
        )
    return args


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up over 5% of the steps, then cosine decay to 10% of --lr."""
    warmup = max(1, args.steps // 20)
    if step < warmup:
        return args.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, args.steps - warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device`, None for plain fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


def flow_matching_loss(
    pipe: DemoVideoPipeline,
    forward: Callable[..., Any],
    videos: torch.Tensor,
    captions: list[str],
    g: torch.Generator,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rectified flow as FlowMatchEulerDiscreteScheduler samples it: x_t = (1 - s) x0 + s noise,
    timestep 1000 s, target noise - x0. s is uniform in (0, 1] moved towards 1 by the scheduler's
    `shift` (s -> shift s / (1 + (shift - 1) s)): the sampler's own steps are a uniform grid under the
    same map, so training sees each noise level as often as sampling needs it. (Logit-normal draws,
    as SD3 trains, leave sigma > 0.95 to 3% of the samples; there the video is nearly pure noise and
    the model must know from the caption alone where the object is in each frame.)
    videos: [B, 3, F, H, W] in [-1, 1]; weights: per-pixel loss weights [B, 1, F, H, W] (None: all 1),
    the loss being their weighted mean."""
    batch = len(videos)
    ids = pipe.text_encoder.tokenize(captions)
    ids[torch.rand(batch, generator=g) < CAPTION_DROP] = 0  # all <pad>: the unconditional context
    noise = torch.randn(videos.shape, generator=g)
    sigma = 1 - torch.rand(batch, generator=g)
    shift = pipe.scheduler.config.shift
    sigma = shift * sigma / (1 + (shift - 1) * sigma)
    device = pipe.transformer.device
    videos, noise, sigma, ids = videos.to(device), noise.to(device), sigma.to(device), ids.to(device)
    s = sigma.view(batch, 1, 1, 1, 1)
    noisy = (1 - s) * videos + s * noise
    pred = forward(
        hidden_states=with_coordinates(noisy),
        timestep=sigma * 1000,
        encoder_hidden_states=pipe.text_encoder(ids),
    )
    error = (pred.sample.float() - (noise - videos)) ** 2
    if weights is None:
        return error.mean()
    weights = weights.to(device).expand_as(error)
    return (error * weights).sum() / weights.sum()


def object_weights(coverage: torch.Tensor) -> torch.Tensor:
    """Loss weights [B, 1, F, H, W]: 1 + OBJECT_WEIGHT near the object (its coverage, max-pooled over
    OBJECT_REACH pixels each way, so the pixels just outside its edges count too), else 1."""
    size = 2 * OBJECT_REACH + 1
    near = F.max_pool3d(coverage, (1, size, size), stride=1, padding=(0, OBJECT_REACH, OBJECT_REACH))
    return 1 + OBJECT_WEIGHT * near


def _modules(pipe: DemoVideoPipeline) -> dict[str, torch.nn.Module]:
    return {"transformer": pipe.transformer, "text_encoder": pipe.text_encoder}


def _params(pipe: DemoVideoPipeline) -> list[torch.nn.Parameter]:
    return [p for module in _modules(pipe).values() for p in module.parameters()]


@dataclass
class _Run:
    """What a checkpoint holds: the trained pipeline, its EMA copy (the one shipped), the optimizer."""

    pipe: DemoVideoPipeline
    ema: DemoVideoPipeline
    optimizer: torch.optim.Optimizer
    step: int = 0

    def state(self, args: argparse.Namespace) -> dict:
        return {
            "step": self.step,
            "model": {name: m.state_dict() for name, m in _modules(self.pipe).items()},
            "ema": {name: m.state_dict() for name, m in _modules(self.ema).items()},
            "optimizer": self.optimizer.state_dict(),
            "args": {key: str(value) for key, value in vars(args).items()},
        }

    def restore(self, state: dict) -> None:
        for name, module in _modules(self.pipe).items():
            module.load_state_dict(state["model"][name])
        for name, module in _modules(self.ema).items():
            module.load_state_dict(state["ema"][name])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]


def _train_step(
    run: _Run, forward: Callable[..., Any], args: argparse.Namespace, config: DemoConfig
) -> float:
    """One optimizer step on batch `run.step` (drawn from seed (--seed, step)); returns the loss."""
    g = torch.Generator().manual_seed(args.seed * 1_000_003 + run.step)
    height, width, batch = config.height, config.width, args.batch_size
    if run.step < args.coarse_steps and args.coarse_size < min(height, width):
        batch *= height * width // args.coarse_size**2
        height = width = args.coarse_size
    frames = args.clip_lengths[int(torch.randint(len(args.clip_lengths), (1,), generator=g))]
    batch = max(1, round(batch * config.frames / frames))
    videos, coverage, captions = make_batch(
        batch, g, frames=frames, height=height, width=width, exclude=frozenset(HELD_OUT_SPECS)
    )
    for group in run.optimizer.param_groups:
        group["lr"] = lr_at(run.step, args)
    device = run.pipe.transformer.device
    dtype = autocast_dtype(args.precision, device)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()
    with autocast:
        loss = flow_matching_loss(run.pipe, forward, videos, captions, g, object_weights(coverage))
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(_params(run.pipe), 1.0)
    run.optimizer.step()
    decay = min(args.ema, (1 + run.step) / (10 + run.step))
    with torch.no_grad():
        torch._foreach_lerp_(_params(run.ema), _params(run.pipe), 1 - decay)
    run.step += 1
    return loss.item()


def train(args: argparse.Namespace) -> Path:
    """Run (or resume) training; returns the latest checkpoint folder."""
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TINY if args.tiny else DemoConfig()
    pipe = build_pipeline(config, seed=args.seed).to(args.device)
    optimizer = torch.optim.AdamW(_params(pipe), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.01)
    run = _Run(pipe, copy.deepcopy(pipe), optimizer)
    found = checkpoints(args.out)
    last = found[-1] if found else None
    if last is not None:
        run.restore(load_state(last))
        print(f"resumed from {last} at step {run.step}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    forward = torch.compile(pipe.transformer) if args.compile else pipe.transformer
    pipe.transformer.train()
    start, losses = time.monotonic(), []
    while run.step < min(args.steps, args.until or args.steps):
        if args.minutes is not None and time.monotonic() - start > args.minutes * 60:
            break
        loss = _train_step(run, forward, args, config)
        losses.append(loss)
        if run.step % args.log_every == 0 or run.step == args.steps:
            record = {
                "step": run.step,
                "loss": round(sum(losses) / len(losses), 5),
                "lr": lr_at(run.step - 1, args),
                "minutes": round((time.monotonic() - start) / 60, 2),  # since this (re)start
            }
            line = json_text(record, indent=None)
            print(line, flush=True)
            with (args.out / "log.jsonl").open("a") as log:
                log.write(line + "\n")
            losses = []
        if run.step % args.save_every == 0:
            last = save_checkpoint(args.out, run.step, run.ema, run.state(args), keep=args.keep)
    if last != checkpoint_dir(args.out, run.step):
        last = save_checkpoint(args.out, run.step, run.ema, run.state(args), keep=args.keep)
    if run.step >= args.steps and args.export is not None:
        save_pipeline_atomically(run.ema, args.export)
        print(f"exported the EMA pipeline to {args.export}", flush=True)
    print(f"latest checkpoint: {last} (step {run.step}/{args.steps})", flush=True)
    return last


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
