"""Radial against Radial Attention's own mask (mit-han-lab/radial-attention, `gen_log_mask_shrinked`):
the reference's mask rebuilt from its description (`dit_accel.quality.references.radial_reference_mask`)
reproduces its densities, and ours at the reference's decay lands within 10% of them."""

import pytest
import torch

from dit_accel.quality.papers import RADIAL_SHAPES, papers_table, radial_comparison
from dit_accel.quality.references import radial_reference_mask

# The reference code's token-pair density at the shapes and decays it runs (RADIAL_SHAPES).
REFERENCE = {"Wan 2.1 480p": 0.344, "Wan 2.1 720p": 0.264, "HunyuanVideo 720p": 0.275}


def _token_band_blocks(frames: int, tokens: int, decay: float, sink: bool, block: int) -> torch.Tensor:
    """The reference built token by token: each frame pair's band mask, padded to its blocks, shrunk
    by the 1/3-of-rows, 60%-of-columns rule, OR-ed into the block mask; blocks from video // block on
    (a partial last block too) count as text, dense."""
    n = -(-frames * tokens // block)
    out = torch.zeros(n, n, dtype=torch.bool)
    out[frames * tokens // block :] = True
    out[:, frames * tokens // block :] = True
    top = 1 << tokens.bit_length()
    idx = torch.arange(tokens)
    for i in range(frames):
        for j in range(frames):
            d = abs(i - j)
            length = top / 2 ** d.bit_length()
            width = tokens if d <= 1 else max(length * decay, block)
            local = (idx.view(-1, 1) - idx.view(1, -1)).abs() <= width
            if length < block and d % int(block / length) != 0:
                local[:] = False
            if sink and j == 0:
                local[:] = True
            r0, c0 = (i * tokens) % block, (j * tokens) % block
            nb = -(-tokens // block)
            padded = torch.zeros(r0 + nb * block, c0 + nb * block, dtype=torch.bool)
            padded[r0 : r0 + tokens, c0 : c0 + tokens] = local
            tiles = padded[: nb * block, : nb * block].view(nb, block, nb, block)
            cols = tiles.sum(1)  # [nb, nb, block] rows read per column
            frac = (cols > block / 3).sum(-1) / ((cols > 0).sum(-1) + 1e-9)
            bi, bj = (i * tokens) // block, (j * tokens) // block
            part = out[bi : bi + nb, bj : bj + nb]
            part |= (frac > 0.6)[: part.shape[0], : part.shape[1]]
    return out


@pytest.mark.parametrize(
    "frames, tokens, decay, sink", [(5, 200, 0.3, True), (7, 100, 0.6, False), (9, 64, 0.2, True)]
)
def test_reference_mask_matches_the_token_level_construction(frames, tokens, decay, sink):
    mask = radial_reference_mask(frames, tokens, decay, sink, block=32)
    assert torch.equal(mask, _token_band_blocks(frames, tokens, decay, sink, 32))


def test_reference_mask_text_is_dense():
    mask = radial_reference_mask(4, 256, 0.2, False, block=64, text_len=100)
    assert mask.shape == (18, 18) and mask[16:].all() and mask[:, 16:].all()


@pytest.mark.parametrize("shape", REFERENCE)
def test_reference_density_and_ours_within_ten_percent(shape):
    (row,) = radial_comparison({shape: RADIAL_SHAPES[shape]})
    assert row["reference_density"] == pytest.approx(REFERENCE[shape], abs=1.5e-3)
    assert row["ours_density"] == pytest.approx(row["reference_density"], rel=0.1)


def test_papers_table_puts_ours_next_to_the_references():
    svg2 = [
        {"setting": "top_p=0.9, min_kc_ratio=0.1", "density": 0.113, "svg2_error": 0.2, "ours_error": 0.05}
    ]
    radial = [{"shape": "s", "decay": 0.2, "sink": True, "reference_density": 0.25, "ours_density": 0.24}]
    lines = papers_table(svg2, radial).splitlines()
    assert lines[2] == "| top_p=0.9, min_kc_ratio=0.1 | 0.113 | 0.2000 | 0.0500 | 0.25 |"
    assert lines[6] == "| s | 0.2 | yes | 0.250 | 0.240 | 0.960 |"
