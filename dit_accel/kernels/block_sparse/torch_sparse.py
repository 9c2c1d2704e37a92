"""Block-sparse attention in plain PyTorch: gathers only the listed key blocks of each query block
and attends over chunks of query blocks, so cost follows the density and memory stays bounded.

Rows (one query block of one batch-head) are sorted by how many key blocks they list and chunked so
that a chunk's rows list about as many blocks: a chunk is padded to its own longest row, not to the
layout's, so uneven layouts cost their mean row, not their longest. Tokens are gathered straight from
the `[B, S, H, D]` inputs (one `D`-row per token and head) and results scattered straight back, so no
pass re-lays q, k, v or the output out. Without LSE, each chunk is one fused SDPA call (flash kernel on
CPU) and a layout that lists every key block is one plain SDPA call; with LSE, an explicit fp32
softmax that also returns the log-sum-exp. Large float32 CPU calls without LSE run on compiled
FlexAttention instead (`flex_cpu`), which reads the key blocks in place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dit_accel.kernels.block_sparse.flex_cpu import block_sparse_attention_flex, flex_serves
from dit_accel.kernels.block_sparse.token_rows import flat_tokens, token_row_ids
from dit_accel.kernels.blocks import num_blocks

# Upper bound on the gathered keys + values (fused path) or scores (LSE path) of one chunk: small
# enough that a chunk stays in this CPU's caches (measured: 2-4 MiB chunks ran SDPA 5-20% faster per
# score than 16 MiB ones), large enough that per-chunk overhead is negligible.
_CHUNK_BYTES = 4 * 2**20
# A chunk's rows list at most this share more key blocks than its first (shortest) row.
_CHUNK_SPREAD = 1 / 8


def _block_token_rows(batch: int, heads: int, length: int, block: int, device: torch.device) -> torch.Tensor:
    """Row ids into `flat_tokens` of every block's tokens `[B*H*n, block]` (batch-head major): block j
    of batch-head r covers tokens j*block.. of head r % H; ids past the sequence repeat its last token."""
    n = num_blocks(length, block)
    token = torch.arange(n * block, device=device).clamp(max=length - 1).view(1, n * block)
    bh = torch.arange(batch * heads, device=device)
    return token_row_ids(bh, token.expand(batch * heads, -1), length, heads).view(batch * heads * n, block)


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


def torch_engine(
    q: torch.Tensor,
    k: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    block_k: int,
    need_lse: bool,
) -> str:
    """What runs a call: "sdpa" (the layout lists every key block, no LSE), "flex" (`flex_cpu`) or
    "gather" (the chunked gathers below)."""
    nk = num_blocks(k.shape[1], block_k)
    # Ids are distinct, so a row listing nk blocks lists them all.
    if not need_lse and kv_indices.shape[3] == nk and bool((kv_counts == nk).all()):
        return "sdpa"
    return "flex" if flex_serves(q, k, need_lse) else "gather"


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
    sk, dev = k.shape[1], q.device
    nq, max_k = kv_indices.shape[2], kv_indices.shape[3]
    nk = num_blocks(sk, block_k)
    engine = torch_engine(q, k, kv_counts, kv_indices, block_k, need_lse)
    if engine == "sdpa":
        return _dense_sdpa(q, k, v, scale), q.new_empty(0, dtype=torch.float32)
    if engine == "flex":
        out = block_sparse_attention_flex(q, k, v, kv_counts, kv_indices, block_q, block_k, scale)
        if out is not None:
            return out, q.new_empty(0, dtype=torch.float32)
    compute = q.dtype if q.is_cuda or q.dtype == torch.float64 else torch.float32
    queries, keys, values = (flat_tokens(x, compute) for x in (q, k, v))
    # Query tokens past Sq repeat the last one: their duplicate results are equal, so scattering is safe.
    q_rows = _block_token_rows(b, h, sq, block_q, dev)  # [R, bq], row r = (batch-head r // nq, block r % nq)
    k_rows = _block_token_rows(b, h, sk, block_k, dev)  # [B*H*nk, bk]
    counts = kv_counts.expand(b, h, nq).reshape(-1)  # [R]
    offsets = (torch.arange(b * h, device=dev) * nk).repeat_interleave(nq).unsqueeze(-1)
    key_blocks = kv_indices.long().expand(b, h, nq, max_k).reshape(-1, max_k) + offsets  # [R, max_k]
    sorted_counts, order = torch.sort(counts, stable=True)
    host_counts = sorted_counts.tolist()
    first = next((i for i, c in enumerate(host_counts) if c > 0), len(host_counts))
    has_tail = sk % block_k != 0
    ends_in_tail = (kv_indices == nk - 1).any(-1).expand(b, h, nq).reshape(-1) if has_tail else None

    out = torch.empty_like(queries)
    lse = torch.empty(b * h * nq * block_q, device=dev) if need_lse else None
    # lse is [B, H, nq * bq]: row r's query tokens are its entries r * bq ...
    within = torch.arange(block_q, device=dev)

    def lse_rows(rows: torch.Tensor) -> torch.Tensor:
        return (rows.unsqueeze(-1) * block_q + within).flatten()

    if first:  # rows that list no key block: zeros, lse -inf
        empty = order[:first]
        out.index_fill_(0, q_rows.index_select(0, empty).flatten(), 0.0)
        if lse is not None:
            lse.index_fill_(0, lse_rows(empty), float("-inf"))
    row_bytes = block_k * max(2 * d * queries.element_size(), block_q * 4 if need_lse else 0)
    for start, stop in _chunks(host_counts[first:], row_bytes):
        rows = order[first + start : first + stop]
        width = host_counts[first + stop - 1]
        c = rows.numel()
        listed = key_blocks.index_select(0, rows)[:, :width].reshape(-1)
        tokens = k_rows.index_select(0, listed).flatten()
        chunk_keys = keys.index_select(0, tokens).view(c, 1, width * block_k, d)
        chunk_values = values.index_select(0, tokens).view(c, 1, width * block_k, d)
        query_tokens = q_rows.index_select(0, rows).flatten()
        chunk_queries = queries.index_select(0, query_tokens).view(c, 1, block_q, d)
        mask = None
        # Masks cost a pass over the scores; only padded slots and the partial last key block need one.
        if need_lse or host_counts[first + start] != width or (has_tail and bool(ends_in_tail[rows].any())):
            slot = torch.arange(width, device=dev) < counts.index_select(0, rows).unsqueeze(-1)
            token = listed.view(c, width, 1) % nk * block_k + torch.arange(block_k, device=dev)
            mask = (slot.unsqueeze(-1) & (token < sk)).view(c, 1, 1, width * block_k)
        if need_lse:
            # scores [c, 1, bq, K]
            scores = torch.matmul(chunk_queries, chunk_keys.transpose(-1, -2)).float() * scale
            scores.masked_fill_(~mask, float("-inf"))
            row_lse = torch.logsumexp(scores, dim=-1)  # [c, 1, bq]
            probs = torch.exp(scores - row_lse.unsqueeze(-1)).nan_to_num_(0.0)
            result = torch.matmul(probs.to(compute), chunk_values)
            lse.index_copy_(0, lse_rows(rows), row_lse.flatten())
        else:
            result = F.scaled_dot_product_attention(
                chunk_queries, chunk_keys, chunk_values, attn_mask=mask, scale=scale
            )
        out.index_copy_(0, query_tokens, result.view(-1, d))
    out = out.view(b, sq, h, d).to(q.dtype)
    if lse is None:
        return out, q.new_empty(0, dtype=torch.float32)
    return out, lse.view(b, h, nq * block_q)[:, :, :sq]
