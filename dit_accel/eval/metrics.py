"""Video quality of a method's output against the dense reference: PSNR, SSIM, LPIPS and FID (torchmetrics).

Frames are uint8 [F, H, W, 3]; every metric compares frame i with frame i. LPIPS and FID need pretrained
networks that cannot be downloaded here: their weights come from a file (flag, environment variable or the
torch hub cache) and, when missing, the metric is skipped with a reason instead of failing.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Identical frames have infinite PSNR; they count as this much so that means stay finite.
PSNR_CAP_DB = 100.0
_CHUNK = 16  # frames per metric call, to bound memory on long high-resolution videos

FID_ENV = "DIT_ACCEL_FID_WEIGHTS"
FID_FILE = "pt_inception-2015-12-05-6726825d.pth"  # torch-fidelity's Inception v3 (the FID network)
LPIPS_ENV = "DIT_ACCEL_LPIPS_WEIGHTS"
LPIPS_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's ImageNet AlexNet (LPIPS' backbone)


def _check_pair(reference: np.ndarray, test: np.ndarray) -> None:
    if reference.shape != test.shape or reference.ndim != 4 or reference.shape[-1] != 3:
        raise ValueError(
            f"expected two uint8 [F, H, W, 3] videos of one shape, got {reference.shape} and {test.shape}"
        )


def _chunks(video: np.ndarray, device: str | torch.device, scale: bool = True) -> list[torch.Tensor]:
    """uint8 [F, H, W, 3] -> chunks of [f, 3, H, W], float in [0, 1] (or uint8 with scale=False)."""
    out = []
    for start in range(0, len(video), _CHUNK):
        frames = torch.from_numpy(np.ascontiguousarray(video[start : start + _CHUNK])).to(device)
        frames = frames.permute(0, 3, 1, 2)
        out.append(frames.float() / 255.0 if scale else frames)
    return out


def frame_psnr(reference: np.ndarray, test: np.ndarray) -> np.ndarray:
    """PSNR in dB of each frame over the 8-bit range (peak 255), float64 [F]; identical frames give inf."""
    _check_pair(reference, test)
    diff = reference.astype(np.float64) - test.astype(np.float64)
    mse = (diff**2).reshape(len(diff), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean over frames of the per-frame PSNR (dB, 8-bit), identical frames counted as PSNR_CAP_DB."""
    return float(np.minimum(frame_psnr(reference, test), PSNR_CAP_DB).mean())


def ssim(reference: np.ndarray, test: np.ndarray, device: str | torch.device = "cpu") -> float:
    """Mean over frames of SSIM (11x11 Gaussian window, RGB, data range 1); identical videos give 1."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    _check_pair(reference, test)
    values = [
        structural_similarity_index_measure(t, r, data_range=1.0, reduction="none")
        for r, t in zip(_chunks(reference, device), _chunks(test, device), strict=True)
    ]
    return float(torch.cat(values).mean())


def find_weights(given: str | Path | None, env: str, filename: str) -> tuple[Path | None, list[str]]:
    """The first existing file of: `given`, $`env`, the torch hub cache's checkpoints/`filename`.
    Returns (path or None, the places looked at)."""
    candidates = []
    if given is not None:
        candidates.append(Path(given))
    if os.environ.get(env):
        candidates.append(Path(os.environ[env]))
    candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / filename)
    for path in candidates:
        if path.is_file():
            return path, [str(c) for c in candidates]
    return None, [str(c) for c in candidates]


class LPIPS:
    """LPIPS (AlexNet backbone, torchmetrics' linear heads) with the backbone read from `weights` (torchvision
    AlexNet state dict), so nothing is downloaded. Lower is closer; identical frames give 0."""

    def __init__(self, weights: Path, device: str | torch.device = "cpu") -> None:
        from torchmetrics.functional.image.lpips import _NoTrainLpips

        net = _NoTrainLpips(net="alex", pnet_rand=True)  # linear heads ship with torchmetrics
        state = torch.load(weights, map_location="cpu", weights_only=True)
        # torchmetrics splits AlexNet's `features` into slices that keep the layer indices as names.
        backbone = {
            f"{slice_name}.{key}": state[f"features.{key}"]
            for slice_name, block in net.net.named_children()
            for key in block.state_dict()
        }
        net.net.load_state_dict(backbone)
        self.net = net.to(device).eval()
        self.device = device

    @torch.no_grad()
    def __call__(self, reference: np.ndarray, test: np.ndarray) -> float:
        """Mean over frames."""
        _check_pair(reference, test)
        values = [
            self.net(t, r, normalize=True).flatten()
            for r, t in zip(_chunks(reference, self.device), _chunks(test, self.device), strict=True)
        ]
        return float(torch.cat(values).mean())


class FID:
    """Fréchet Inception Distance between all reference frames and all test frames added with `update`
    (torchmetrics, 2048-d Inception pool features, weights from a file)."""

    def __init__(self, weights: Path, device: str | torch.device = "cpu") -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance

        self.metric = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights)).to(
            device
        )
        self.device = device

    def reset(self) -> None:
        self.metric.reset()

    @torch.no_grad()
    def update(self, reference: np.ndarray, test: np.ndarray) -> None:
        _check_pair(reference, test)
        for frames in _chunks(reference, self.device, scale=False):
            self.metric.update(frames, real=True)
        for frames in _chunks(test, self.device, scale=False):
            self.metric.update(frames, real=False)

    def compute(self) -> float | None:
        """FID over everything added since the last reset; None with fewer than 2 frames a side."""
        if int(self.metric.fake_features_num_samples) < 2:
            return None
        return float(self.metric.compute())


@dataclass
class Metrics:
    """The learned metrics that could be loaded (None: skipped) and why the others were skipped."""

    lpips: LPIPS | None
    fid: FID | None
    skipped: dict[str, str]


@dataclass(frozen=True)
class _Learned:
    """How `load_metrics` finds one learned metric and says why it skipped it."""

    name: str  # as the messages write it
    load: type[LPIPS] | type[FID]
    package: str  # importable name of the package it needs
    needs: str  # that package and how to install it
    env: str
    filename: str
    flag: str
    network: str  # what the weights file must hold


_LPIPS = _Learned(
    "LPIPS", LPIPS, "torchvision", "torchvision (pip install torchvision, built for your torch)",
    LPIPS_ENV, LPIPS_FILE, "--lpips-weights", "an AlexNet state dict",
)  # fmt: skip
_FID = _Learned(
    "FID", FID, "torch_fidelity", "torch-fidelity (pip install torch-fidelity)",
    FID_ENV, FID_FILE, "--fid-weights", "Inception weights",
)  # fmt: skip


def _load(metric: _Learned, weights: str | Path | None, device: str | torch.device) -> tuple[Any, str | None]:
    """(the metric, None) when its package and weights are there, else (None, one line saying why not)."""
    if importlib.util.find_spec(metric.package) is None:
        return None, f"{metric.name} skipped: needs {metric.needs}"
    path, looked = find_weights(weights, metric.env, metric.filename)
    if path is None:
        return None, (
            f"{metric.name} skipped: no weights file (pass {metric.flag} FILE; looked at {', '.join(looked)})"
        )
    try:
        return metric.load(path, device), None
    except (OSError, KeyError, RuntimeError, ValueError) as error:
        return None, f"{metric.name} skipped: cannot load {path} as {metric.network} ({error!r})"


def load_metrics(
    fid_weights: str | Path | None = None,
    lpips_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> Metrics:
    """LPIPS and FID from their weight files where possible; `skipped` says in one line each why not."""
    lpips, lpips_skipped = _load(_LPIPS, lpips_weights, device)
    fid, fid_skipped = _load(_FID, fid_weights, device)
    reasons = {"lpips": lpips_skipped, "fid": fid_skipped}
    return Metrics(lpips=lpips, fid=fid, skipped={key: line for key, line in reasons.items() if line})
