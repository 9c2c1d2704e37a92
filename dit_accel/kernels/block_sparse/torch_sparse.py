"""Block-sparse attention in plain PyTorch: gathers only the listed key blocks and runs batched
matmuls over chunks of query blocks, so cost follows the density and memory stays bounded."""

from __future__ import annotations

import torch

# Upper bound on the fp32 score tensor of one chunk of query blocks.
_CHUNK_BYTES = 64 * 2**20


def _blocks(x: torch.Tensor, block: int, dtype: torch.dtype) -> torch.Tensor:
    """`[B, S, H, D]` -> `[B*H, n_blocks, block, D]`, zero-padded at the tail."""
    b, s, h, d = x.shape
    n = -(-s // block)
    x = x.to(dtype).permute(0, 2, 1, 3)  # [B, H, S, D]
    if n * block != s:
        x = torch.nn.functional.pad(x, (0, 0, 0, n * block - s))
    return x.reshape(b * h, n, block, d)


def block_sparse_attention_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    block_q: int,
    block_k: int,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]`, kv_counts int32 `[Bl, Hl, nq]`, kv_indices int32
    `[Bl, Hl, nq, max_k]` (Bl in {1, B}, Hl in {1, H}) -> (out `[B, Sq, H, D]`, lse fp32 `[B, H, Sq]`)."""
    b, sq, h, d = q.shape
    sk = k.shape[1]
    compute = torch.float64 if q.dtype == torch.float64 else torch.float32
    nq, max_k = kv_indices.shape[2], kv_indices.shape[3]
    qb = _blocks(q, block_q, compute)  # [BH, nq, bq, D]
    kb = _blocks(k, block_k, compute).flatten(2)  # [BH, nk, bk*D]
    vb = _blocks(v, block_k, compute).flatten(2)
    counts = kv_counts.expand(b, h, nq).reshape(b * h, nq)
    indices = kv_indices.long().expand(b, h, nq, max_k).reshape(b * h, nq, max_k)
    token_in_block = torch.arange(block_k, device=q.device)
    slot = torch.arange(max_k, device=q.device)

    out = torch.empty(b * h, nq, block_q, d, dtype=compute, device=q.device)
    lse = torch.empty(b * h, nq, block_q, dtype=torch.float32, device=q.device)
    score_bytes_per_block = b * h * block_q * max_k * block_k * 4
    chunk = max(1, _CHUNK_BYTES // max(score_bytes_per_block, 1))
    for start in range(0, nq, chunk):
        stop = min(start + chunk, nq)
        idx = indices[:, start:stop]  # [BH, c, max_k]
        c = stop - start
        flat = idx.reshape(b * h, c * max_k, 1)
        keys = torch.gather(kb, 1, flat.expand(-1, -1, block_k * d)).view(b * h, c, max_k * block_k, d)
        values = torch.gather(vb, 1, flat.expand(-1, -1, block_k * d)).view(b * h, c, max_k * block_k, d)
        scores = torch.matmul(qb[:, start:stop], keys.transpose(-1, -2)).float() * scale  # [BH, c, bq, K]
        token = idx.unsqueeze(-1) * block_k + token_in_block  # [BH, c, max_k, bk]
        valid = (slot < counts[:, start:stop].unsqueeze(-1)).unsqueeze(-1) & (token < sk)
        scores.masked_fill_(~valid.view(b * h, c, 1, max_k * block_k), float("-inf"))
        row_lse = torch.logsumexp(scores, dim=-1)  # [BH, c, bq]
        probs = torch.exp(scores - row_lse.unsqueeze(-1)).nan_to_num_(0.0)
        out[:, start:stop] = torch.matmul(probs.to(compute), values)
        lse[:, start:stop] = row_lse
    out = out.view(b, h, nq * block_q, d)[:, :, :sq].permute(0, 2, 1, 3).to(q.dtype)
    return out, lse.view(b, h, nq * block_q)[:, :, :sq]
