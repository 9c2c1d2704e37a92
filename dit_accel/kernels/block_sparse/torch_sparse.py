"""Block-sparse attention in plain PyTorch: gathers only the listed key blocks of each query block
and attends over chunks of query blocks, so cost follows the density and memory stays bounded.

Without LSE, each chunk is one fused SDPA call (flash kernel on CPU); with LSE, an explicit fp32
softmax that also returns the log-sum-exp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dit_accel.kernels.blocks import num_blocks

# Upper bound on the gathered keys + values (fused path) or scores (LSE path) of one chunk. Small
# enough to stay cache-friendly, large enough that per-chunk overhead is negligible.
_CHUNK_BYTES = 16 * 2**20


def _blocks(x: torch.Tensor, block: int, dtype: torch.dtype) -> torch.Tensor:
    """`[B, S, H, D]` -> `[B*H, n_blocks, block, D]`, zero-padded at the tail."""
    b, s, h, d = x.shape
    n = num_blocks(s, block)
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
    bh = b * h
    compute = q.dtype if q.is_cuda or q.dtype == torch.float64 else torch.float32
    nq, max_k = kv_indices.shape[2], kv_indices.shape[3]
    nk = num_blocks(sk, block_k)
    # Query blocks lead so that a chunk of them is one contiguous slice of queries and outputs.
    qb = _blocks(q, block_q, compute).transpose(0, 1).contiguous()  # [nq, BH, bq, D]
    kb = _blocks(k, block_k, compute).reshape(bh * nk, block_k * d)  # one row per (BH, key block)
    vb = _blocks(v, block_k, compute).reshape(bh * nk, block_k * d)
    counts = kv_counts.expand(b, h, nq).reshape(bh, nq).t()  # [nq, BH]
    indices = kv_indices.long().expand(b, h, nq, max_k).reshape(bh, nq, max_k).transpose(0, 1)
    # Row ids into kb/vb: index_select copies whole contiguous blocks (gather would read an index
    # per element).
    rows = (indices + (torch.arange(bh, device=q.device) * nk).view(1, -1, 1)).reshape(-1)
    token = indices.unsqueeze(-1) * block_k + torch.arange(block_k, device=q.device)  # [nq, BH, max_k, bk]
    slot_used = torch.arange(max_k, device=q.device) < counts.unsqueeze(-1)  # [nq, BH, max_k]
    valid = (slot_used.unsqueeze(-1) & (token < sk)).flatten(2)  # [nq, BH, max_k*bk]
    # Masks cost a pass over the scores; skip them when every listed key is real.
    needs_mask = need_lse or not bool(valid.all())

    out = torch.empty(nq, bh, block_q, d, dtype=compute, device=q.device)
    lse = torch.empty(nq, bh, block_q, dtype=torch.float32, device=q.device) if need_lse else None
    per_block = bh * max_k * block_k * max(2 * d * qb.element_size(), block_q * 4 if need_lse else 0)
    chunk = min(nq, max(1, _CHUNK_BYTES // max(per_block, 1)))
    # Gather into buffers reused across chunks: fresh large allocations cost a page fault per page.
    key_buffer = kb.new_empty(chunk * bh * max_k, block_k * d)
    value_buffer = torch.empty_like(key_buffer)
    for start in range(0, nq, chunk):
        stop = min(start + chunk, nq)
        c = stop - start
        flat = rows[start * bh * max_k : stop * bh * max_k]
        keys = torch.index_select(kb, 0, flat, out=key_buffer[: flat.numel()]).view(c, bh, -1, d)
        values = torch.index_select(vb, 0, flat, out=value_buffer[: flat.numel()]).view(c, bh, -1, d)
        mask = valid[start:stop].unsqueeze(2) if needs_mask else None  # [c, BH, 1, K]
        if need_lse:
            scores = torch.matmul(qb[start:stop], keys.transpose(-1, -2)).float() * scale  # [c, BH, bq, K]
            scores.masked_fill_(~mask, float("-inf"))
            row_lse = torch.logsumexp(scores, dim=-1)  # [c, BH, bq]
            probs = torch.exp(scores - row_lse.unsqueeze(-1)).nan_to_num_(0.0)
            torch.matmul(probs.to(compute), values, out=out[start:stop])
            lse[start:stop] = row_lse
        else:
            out[start:stop] = F.scaled_dot_product_attention(
                qb[start:stop], keys, values, attn_mask=mask, scale=scale
            )
    if not need_lse:
        # Fused SDPA gives NaN for query blocks that list no key block; the contract is zeros.
        out.masked_fill_((counts == 0).view(nq, bh, 1, 1), 0.0)
    # [nq, B, H, bq, D] -> [B, nq, bq, H, D] -> [B, Sq, H, D]
    out = out.view(nq, b, h, block_q, d).permute(1, 0, 3, 2, 4).reshape(b, nq * block_q, h, d)
    out = out[:, :sq].to(q.dtype)
    if lse is None:
        return out, q.new_empty(0, dtype=torch.float32)
    lse = lse.view(nq, b, h, block_q).permute(1, 2, 0, 3).reshape(b, h, nq * block_q)
    return out, lse[:, :, :sq]
