"""Block-sparse attention in plain PyTorch: gathers only the listed key blocks of each query block
and attends over chunks of query blocks, so cost follows the density and memory stays bounded.

Rows (one query block of one batch-head) are sorted by how many key blocks they list and chunked so
that a chunk's rows list about as many blocks: a chunk is padded to its own longest row, not to the
layout's, so uneven layouts cost their mean row, not their longest. Without LSE, each chunk is one
fused SDPA call (flash kernel on CPU) and a layout that lists every key block is one plain SDPA call;
with LSE, an explicit fp32 softmax that also returns the log-sum-exp.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dit_accel.kernels.blocks import num_blocks

# Upper bound on the gathered keys + values (fused path) or scores (LSE path) of one chunk. Small
# enough to stay cache-friendly, large enough that per-chunk overhead is negligible.
_CHUNK_BYTES = 16 * 2**20
# A chunk's rows list at most this share more key blocks than its first (shortest) row.
_CHUNK_SPREAD = 1 / 8


def _blocks(x: torch.Tensor, block: int, dtype: torch.dtype) -> torch.Tensor:
    """`[B, S, H, D]` -> `[B*H*n_blocks, block, D]` (batch-head major), zero-padded at the tail."""
    b, s, h, d = x.shape
    n = num_blocks(s, block)
    x = x.to(dtype).permute(0, 2, 1, 3)  # [B, H, S, D]
    if n * block != s:
        x = F.pad(x, (0, 0, 0, n * block - s))
    return x.reshape(b * h * n, block, d)


def _chunks(counts: list[int], row_bytes: int) -> list[tuple[int, int]]:
    """[start, stop) ranges over rows sorted by ascending key-block count: each within the memory
    budget at its longest row and its counts within _CHUNK_SPREAD of its first."""
    ranges, start = [], 0
    while start < len(counts):
        limit = counts[start] + max(1, int(counts[start] * _CHUNK_SPREAD))
        stop = start + 1
        while stop < len(counts) and counts[stop] <= limit:
            if (stop + 1 - start) * counts[stop] * row_bytes > _CHUNK_BYTES:
                break
            stop += 1
        ranges.append((start, stop))
        start = stop
    return ranges


def _dense_sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Plain SDPA on `[B, S, H, D]` tensors (through strided views) -> contiguous `[B, Sq, H, D]`."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=scale)
    return out.transpose(1, 2).contiguous()


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
    nq, max_k = kv_indices.shape[2], kv_indices.shape[3]
    nk = num_blocks(sk, block_k)
    # Ids are distinct, so a row listing nk blocks lists them all.
    if not need_lse and max_k == nk and bool((kv_counts == nk).all()):
        return _dense_sdpa(q, k, v, scale), q.new_empty(0, dtype=torch.float32)
    compute = q.dtype if q.is_cuda or q.dtype == torch.float64 else torch.float32
    qb = _blocks(q, block_q, compute)  # [BH*nq, bq, D], row r = (batch-head r // nq, query block r % nq)
    kb = _blocks(k, block_k, compute).reshape(bh * nk, block_k * d)  # one row per (BH, key block)
    vb = _blocks(v, block_k, compute).reshape(bh * nk, block_k * d)
    counts = kv_counts.expand(b, h, nq).reshape(-1)  # [R]
    # Row ids into kb/vb: index_select copies whole contiguous blocks (gather would read an index
    # per element).
    offsets = (torch.arange(bh, device=q.device) * nk).repeat_interleave(nq).unsqueeze(-1)
    key_rows = kv_indices.long().expand(b, h, nq, max_k).reshape(-1, max_k) + offsets  # [R, max_k]
    sorted_counts, order = torch.sort(counts, stable=True)
    host_counts = sorted_counts.tolist()
    first = next((i for i, c in enumerate(host_counts) if c > 0), len(host_counts))
    has_tail = sk % block_k != 0
    ends_in_tail = (kv_indices == nk - 1).any(-1).expand(b, h, nq).reshape(-1) if has_tail else None

    out = torch.zeros(bh * nq, block_q, d, dtype=compute, device=q.device)
    lse = torch.full((bh * nq, block_q), float("-inf"), device=q.device) if need_lse else None
    row_bytes = block_k * max(2 * d * qb.element_size(), block_q * 4 if need_lse else 0)
    for start, stop in _chunks(host_counts[first:], row_bytes):
        rows = order[first + start : first + stop]
        width = host_counts[first + stop - 1]
        c = rows.numel()
        flat = key_rows.index_select(0, rows)[:, :width].reshape(-1)
        keys = kb.index_select(0, flat).view(c, 1, width * block_k, d)
        values = vb.index_select(0, flat).view(c, 1, width * block_k, d)
        queries = qb.index_select(0, rows).unsqueeze(1)  # [c, 1, bq, D]
        mask = None
        # Masks cost a pass over the scores; only padded slots and the partial last key block need one.
        if need_lse or host_counts[first + start] != width or (has_tail and bool(ends_in_tail[rows].any())):
            slot = torch.arange(width, device=q.device) < counts.index_select(0, rows).unsqueeze(-1)
            token = flat.view(c, width, 1) % nk * block_k + torch.arange(block_k, device=q.device)
            mask = (slot.unsqueeze(-1) & (token < sk)).view(c, 1, 1, width * block_k)
        if need_lse:
            scores = torch.matmul(queries, keys.transpose(-1, -2)).float() * scale  # [c, 1, bq, K]
            scores.masked_fill_(~mask, float("-inf"))
            row_lse = torch.logsumexp(scores, dim=-1)  # [c, 1, bq]
            probs = torch.exp(scores - row_lse.unsqueeze(-1)).nan_to_num_(0.0)
            out.index_copy_(0, rows, torch.matmul(probs.to(compute), values).squeeze(1))
            lse.index_copy_(0, rows, row_lse.squeeze(1))
        else:
            result = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask, scale=scale)
            out.index_copy_(0, rows, result.squeeze(1))
    # [B, H, nq * bq, D] -> [B, Sq, H, D]
    out = out.view(b, h, nq * block_q, d)[:, :, :sq].transpose(1, 2).to(q.dtype).contiguous()
    if lse is None:
        return out, q.new_empty(0, dtype=torch.float32)
    return out, lse.view(b, h, nq * block_q)[:, :, :sq]
