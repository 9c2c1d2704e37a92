"""Block-sparse attention in plain PyTorch: gathers only the listed key blocks of each query block
and attends over chunks of query blocks, so cost follows the density and memory stays bounded.

Without LSE, each chunk is one fused SDPA call (flash kernel on CPU); with LSE, an explicit fp32
softmax that also returns the log-sum-exp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Upper bound on the gathered keys + values (fused path) or scores (LSE path) of one chunk. Small
# enough to stay cache-friendly, large enough that per-chunk overhead is negligible.
_CHUNK_BYTES = 16 * 2**20


def _blocks(x: torch.Tensor, block: int, dtype: torch.dtype) -> torch.Tensor:
    """`[B, S, H, D]` -> `[B*H, n_blocks, block, D]`, zero-padded at the tail."""
    b, s, h, d = x.shape
    n = -(-s // block)
    x = x.to(dtype).permute(0, 2, 1, 3)  # [B, H, S, D]
    if n * block != s:
        x = F.pad(x, (0, 0, 0, n * block - s))
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
    need_lse: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]`, kv_counts int32 `[Bl, Hl, nq]`, kv_indices int32
    `[Bl, Hl, nq, max_k]` (Bl in {1, B}, Hl in {1, H}) -> (out `[B, Sq, H, D]`, lse fp32 `[B, H, Sq]`).

    With `need_lse=False` the returned lse is an empty tensor.
    """
    b, sq, h, d = q.shape
    sk = k.shape[1]
    compute = q.dtype if q.is_cuda or q.dtype == torch.float64 else torch.float32
    nq, max_k = kv_indices.shape[2], kv_indices.shape[3]
    qb = _blocks(q, block_q, compute)  # [BH, nq, bq, D]
    nk = -(-sk // block_k)
    kb = _blocks(k, block_k, compute).reshape(b * h * nk, block_k * d)  # one row per (BH, key block)
    vb = _blocks(v, block_k, compute).reshape(b * h * nk, block_k * d)
    counts = kv_counts.expand(b, h, nq).reshape(b * h, nq)
    indices = kv_indices.long().expand(b, h, nq, max_k).reshape(b * h, nq, max_k)
    # Row ids into kb/vb: index_select copies whole contiguous blocks (gather would read an index
    # per element).
    rows = indices + (torch.arange(b * h, device=q.device) * nk).view(-1, 1, 1)  # [BH, nq, max_k]
    token = indices.unsqueeze(-1) * block_k + torch.arange(block_k, device=q.device)  # [BH, nq, max_k, bk]
    slot_used = torch.arange(max_k, device=q.device) < counts.unsqueeze(-1)  # [BH, nq, max_k]
    valid = (slot_used.unsqueeze(-1) & (token < sk)).flatten(2)  # [BH, nq, max_k*bk]
    # Masks cost a pass over the scores; skip them when every listed key is real.
    needs_mask = need_lse or not bool(valid.all())

    out = torch.empty(b * h, nq, block_q, d, dtype=compute, device=q.device)
    lse = torch.empty(b * h, nq, block_q, dtype=torch.float32, device=q.device) if need_lse else None
    per_block = b * h * max_k * block_k * max(2 * d * qb.element_size(), block_q * 4 if need_lse else 0)
    chunk = max(1, _CHUNK_BYTES // max(per_block, 1))
    for start in range(0, nq, chunk):
        stop = min(start + chunk, nq)
        c = stop - start
        flat = rows[:, start:stop].reshape(-1)
        keys = kb.index_select(0, flat).view(b * h, c, max_k * block_k, d)
        values = vb.index_select(0, flat).view(b * h, c, max_k * block_k, d)
        mask = valid[:, start:stop].unsqueeze(2) if needs_mask else None  # [BH, c, 1, K]
        if need_lse:
            scores = torch.matmul(qb[:, start:stop], keys.transpose(-1, -2)).float() * scale
            scores.masked_fill_(~mask, float("-inf"))
            row_lse = torch.logsumexp(scores, dim=-1)  # [BH, c, bq]
            probs = torch.exp(scores - row_lse.unsqueeze(-1)).nan_to_num_(0.0)
            out[:, start:stop] = torch.matmul(probs.to(compute), values)
            lse[:, start:stop] = row_lse
        else:
            out[:, start:stop] = F.scaled_dot_product_attention(
                qb[:, start:stop], keys, values, attn_mask=mask, scale=scale
            )
    if not need_lse:
        # Fused SDPA gives NaN for query blocks that list no key block; the contract is zeros.
        out.masked_fill_((counts == 0).view(b * h, nq, 1, 1), 0.0)
    out = out.view(b, h, nq * block_q, d)[:, :, :sq].permute(0, 2, 1, 3).to(q.dtype)
    if lse is None:
        return out, q.new_empty(0, dtype=torch.float32)
    return out, lse.view(b, h, nq * block_q)[:, :, :sq]
