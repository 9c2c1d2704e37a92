"""The attention layout picture: one layer's and head's block map in the token order the kernel runs (after
reordering) next to the same selection in natural frame-row-column token order (before reordering)."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass, field

import numpy as np
import PIL.Image
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dit_accel.kernels.block_sparse.naive import token_blocks
from dit_accel.methods import Plan
from dit_accel.var_layout import VarBlockLayout

WIDTH, HEIGHT, DPI = 1000, 460, 100
CMAP = "viridis"
NATURAL_BLOCK = 64  # tokens per block of the natural-order picture of cluster-sized blocks


@dataclass
class LayoutView:
    """The plans of an accelerated run, for the picture. plans: the last plan each layer ran sparse with
    (layers missing ran dense at every step); layers, heads: of the model; title: the method setting."""

    title: str
    layers: int
    heads: int
    plans: dict[int, Plan] = field(default_factory=dict)


def _membership(perm: torch.Tensor, placed: torch.Tensor, block: int, blocks: int) -> torch.Tensor:
    """float64 [natural block, permuted block]: how many tokens of each natural-order block of `block`
    tokens sit in each of the `blocks` blocks of the permuted order, for perm [S] (position i of the
    permuted order holds token perm[i]) and placed [S] (the block of position i)."""
    natural = -(-perm.numel() // block)
    counts = torch.zeros(natural, blocks, dtype=torch.float64)
    counts.index_put_(
        (perm.cpu() // block, placed.cpu()), torch.ones(perm.numel(), dtype=torch.float64), accumulate=True
    )
    return counts


def natural_density(
    mask: torch.Tensor,
    perms: tuple[torch.Tensor, torch.Tensor] | None,
    placed: tuple[torch.Tensor, torch.Tensor],
    block: int,
) -> np.ndarray:
    """Share of the token pairs of each natural-order block pair (`block` tokens) that a block mask
    [nq, nk] over the permuted sequences computes, float64. perms: the query and key orders [S] (None:
    the mask is in natural order already, in blocks of `block`); placed: the block of each position
    of the query and key orders [S]."""
    selected = mask.to(torch.float64).cpu()
    if perms is None:
        return selected.numpy()
    in_q = _membership(perms[0], placed[0], block, mask.shape[0])
    in_k = _membership(perms[1], placed[1], block, mask.shape[1])
    pairs = in_q.sum(1)[:, None] * in_k.sum(1)[None, :]
    return (in_q @ selected @ in_k.T / pairs).numpy()


def figure_image(fig: Figure) -> PIL.Image.Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    return PIL.Image.open(buffer).convert("RGB")


def new_figure() -> Figure:
    fig = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def message_image(text: str) -> PIL.Image.Image:
    """A picture of the layout's size holding only `text` (e.g. why there is no layout to show)."""
    fig = new_figure()
    fig.text(0.5, 0.5, textwrap.fill(text, 80), ha="center", va="center", fontsize=13)
    return figure_image(fig)


def _frame_lines(ax, plan: Plan, block: int) -> None:
    """Thin lines where a new frame starts, so the natural-order map reads as frame x frame tiles."""
    grid = plan.grid
    if grid.frames > 64:
        return
    for frame in range(1, grid.frames):
        edge = (grid.video_start + frame * grid.tokens_per_frame) / block - 0.5
        ax.axhline(edge, color="white", linewidth=0.4, alpha=0.6)
        ax.axvline(edge, color="white", linewidth=0.4, alpha=0.6)


def _head_orders(plan: Plan, head: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The query and key token orders [S] of `head` in batch sample 0."""
    keys = plan.permutation if plan.key_permutation is None else plan.key_permutation
    return plan.permutation[0, :, head % plan.permutation.shape[2]], keys[0, :, head % keys.shape[2]]


def layout_image(view: LayoutView, layer: int, head: int) -> PIL.Image.Image:
    """The block map of `layer` and `head` before and after reordering, or a message when there is none."""
    if not 0 <= layer < view.layers or not 0 <= head < view.heads:
        return message_image(
            f"No layer {layer} / head {head}: the model has layers 0-{view.layers - 1} "
            f"and heads 0-{view.heads - 1}."
        )
    plan = view.plans.get(layer)
    if plan is None:
        return message_image(
            f"Layer {layer} ran dense at every step (dense first layers or warm-up): no block map."
        )
    layout = plan.layout
    mask = layout.to_mask()[0, head % layout.heads]  # [nq, nk]; batch 0 is the first prompt
    perms = None if plan.permutation is None else _head_orders(plan, head)
    density = float(layout.head_density()[0, head % layout.heads])
    if isinstance(layout, VarBlockLayout):
        offsets = layout.q_offsets[0, head % layout.heads], layout.k_offsets[0, head % layout.heads]
        placed = tuple(token_blocks(o, int(o[-1])) for o in offsets)
        block, unit = NATURAL_BLOCK, "cluster"
    else:
        block, unit = layout.block_q, f"{layout.block_k} tokens"
        placed = tuple(
            torch.arange(n) // b for n, b in ((layout.q_len, block), (layout.kv_len, layout.block_k))
        )

    fig = new_figure()
    kernel_ax, natural_ax = fig.subplots(1, 2)
    kernel_ax.imshow(mask.cpu().numpy(), cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
    kernel_ax.set_title(
        "after reordering: blocks the kernel computes" if perms is not None else "blocks computed"
    )
    image = natural_ax.imshow(
        natural_density(mask, perms, placed, block),
        cmap=CMAP,
        vmin=0,
        vmax=1,
        interpolation="nearest",
    )
    natural_ax.set_title(
        "before reordering: natural token order" if perms is not None else "natural order (no reordering)"
    )
    _frame_lines(natural_ax, plan, block)
    kernel_ax.set_xlabel(f"key block ({unit})")
    kernel_ax.set_ylabel(f"query block ({unit})")
    natural_ax.set_xlabel(f"key block ({block} tokens)")
    natural_ax.set_ylabel(f"query block ({block} tokens)")
    fig.colorbar(image, ax=natural_ax, label="share of token pairs computed", shrink=0.85)
    fig.suptitle(
        f"layer {layer}, head {head}: {density:.1%} of the attention computed\n{view.title}", fontsize=11
    )
    return figure_image(fig)
