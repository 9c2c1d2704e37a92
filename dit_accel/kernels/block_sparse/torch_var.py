"""Block-sparse attention in plain PyTorch over blocks of per-block sizes (offsets).

Every query block is cut into tiles of `tile_q` rows and every key block into tiles of `tile_k`
keys (the last tile of a block partial, masked). A query tile reads the key tiles of its block's
listed key blocks. Query tiles are sorted by how many key tiles they read and attended in chunks,
so each chunk pads its key lists only to its own longest one. Cost: the gather of the listed key
tiles once per query tile, plus the attention over them. A block much smaller than a tile wastes
the rest of the tile; a query block much larger than `tile_q` gathers its keys once per tile.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dit_accel.kernels.block_sparse.token_rows import flat_tokens, token_row_ids

# Upper bound on the gathered keys + values (or scores, with LSE) of one chunk.
_CHUNK_BYTES = 16 * 2**20


def tile_table(
    offsets: torch.Tensor, tile: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiles of the blocks with offsets long `[BH, n + 1]`, numbered block by block over the flat
    `[BH * n]` blocks: (block of each tile long `[T]`, first token `[T]`, tokens `[T]`, first tile
    of every block `[BH * n]`, tiles of every block `[BH * n]`). Empty blocks have no tile."""
    sizes = offsets.diff(dim=-1).flatten()
    count = -(-sizes // tile)
    first = count.cumsum(0) - count
    block = torch.repeat_interleave(torch.arange(sizes.numel(), device=offsets.device), count)
    within = (torch.arange(block.numel(), device=offsets.device) - first[block]) * tile
    start = offsets[:, :-1].flatten()[block] + within
    length = (sizes[block] - within).clamp(max=tile)
    return block, start, length, first, count


def var_block_sparse_attention_torch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_counts: torch.Tensor,
    kv_indices: torch.Tensor,
    q_offsets: torch.Tensor,
    k_offsets: torch.Tensor,
    scale: float,
    need_lse: bool = True,
    tile_q: int | None = None,
    tile_k: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q `[B, Sq, H, D]`, k/v `[B, Sk, H, D]`; kv_counts int32 `[Bl, Hl, nq]`, kv_indices int32
    `[Bl, Hl, nq, max_k]`, q_offsets int32 `[Bl, Hl, nq + 1]`, k_offsets int32 `[Bl, Hl, nk + 1]`
    (Bl in {1, B}, Hl in {1, H}) -> (out `[B, Sq, H, D]`, lse fp32 `[B, H, Sq]`, empty without
    `need_lse`). Tokens of query blocks that read no key get zeros and lse = -inf. `tile_q` None:
    the power of two (16 to 64) nearest the mean size of the non-empty query blocks."""
    b, sq, h, d = q.shape
    sk, bh, dev = k.shape[1], b * h, q.device
    compute = q.dtype if q.is_cuda or q.dtype == torch.float64 else torch.float32
    nq, nk, max_k = kv_counts.shape[2], k_offsets.shape[2] - 1, kv_indices.shape[3]
    q_off = q_offsets.expand(b, h, nq + 1).reshape(bh, nq + 1).long()
    k_off = k_offsets.expand(b, h, nk + 1).reshape(bh, nk + 1).long()
    counts = kv_counts.expand(b, h, nq).reshape(bh * nq)
    indices = kv_indices.long().expand(b, h, nq, max_k).reshape(bh, nq, max_k)

    # Key tiles, padded to tile_k and flattened; one extra all-masked tile pads the key lists.
    k_block, k_start, k_len, k_first, k_count = tile_table(k_off, tile_k)
    n_tiles = k_block.numel()
    offs_k = torch.arange(tile_k, device=dev)
    key_valid = torch.cat((offs_k < k_len.unsqueeze(-1), offs_k.new_zeros(1, tile_k, dtype=torch.bool)))
    key_tokens = (k_start.unsqueeze(-1) + offs_k).clamp(max=sk - 1)  # [n_tiles, tile_k]
    key_rows = token_row_ids(k_block // nk, key_tokens, sk, h).flatten()
    pad = torch.zeros(1, tile_k * d, dtype=compute, device=dev)
    key_tiles = torch.cat((flat_tokens(k, compute).index_select(0, key_rows).view(n_tiles, -1), pad))
    value_tiles = torch.cat((flat_tokens(v, compute).index_select(0, key_rows).view(n_tiles, -1), pad))

    # Per query block (flat over BH * nq): its key tiles, listed block by block.
    slot_used = torch.arange(max_k, device=dev) < counts.view(bh, nq, 1)
    listed = (torch.arange(bh, device=dev).view(-1, 1, 1) * nk + indices).flatten()
    per_slot = torch.where(slot_used.flatten(), k_count[listed], 0)
    reads = per_slot.view(bh * nq, max_k).sum(-1)  # key tiles read per query block
    slot_of = torch.repeat_interleave(torch.arange(per_slot.numel(), device=dev), per_slot)
    within = torch.arange(slot_of.numel(), device=dev) - (per_slot.cumsum(0) - per_slot)[slot_of]
    entries = k_first[listed][slot_of] + within  # [E] key tile ids, query block after query block
    entry_start = reads.cumsum(0) - reads

    if tile_q is None:
        sizes = q_off.diff(dim=-1)
        mean = float(sizes.sum()) / max(int((sizes > 0).sum()), 1)
        tile_q = 1 << min(6, max(4, round(math.log2(max(mean, 1.0)))))
    q_block, q_start, q_len, _, _ = tile_table(q_off, tile_q)
    tile_reads = reads[q_block]
    order = torch.argsort(tile_reads, descending=True)
    sorted_reads = tile_reads[order].tolist()
    active = int((tile_reads > 0).sum())  # tiles reading nothing stay zero, lse -inf
    offs_q = torch.arange(tile_q, device=dev)
    queries = flat_tokens(q, compute)
    out = torch.zeros(b * sq * h, d, dtype=compute, device=dev)
    lse = torch.full((bh * sq,), float("-inf"), device=dev) if need_lse else None
    start = 0
    while start < active:
        width = sorted_reads[start]
        per_tile = width * tile_k * max(2 * d * key_tiles.element_size(), tile_q * 4 if need_lse else 0)
        stop = min(active, start + max(1, _CHUNK_BYTES // per_tile))
        tiles = order[start:stop]
        c = tiles.numel()
        read = torch.arange(width, device=dev) < tile_reads[tiles].unsqueeze(-1)  # [c, width]
        pos = (entry_start[q_block[tiles]].unsqueeze(-1) + torch.arange(width, device=dev)).clamp(
            max=max(entries.numel() - 1, 0)
        )
        ids = torch.where(read, entries[pos], n_tiles).flatten()
        # [c, 1, ., D] views: SDPA runs its fused CPU kernel on 4-D inputs only (3-D ones take the
        # unfused bmm + softmax path, 1.25x slower at the Wan grid).
        keys = key_tiles.index_select(0, ids).view(c, 1, width * tile_k, d)
        values = value_tiles.index_select(0, ids).view(c, 1, width * tile_k, d)
        mask = key_valid.index_select(0, ids).view(c, 1, 1, width * tile_k)
        # A partial tile repeats its last token: the repeats compute the same row again, so every
        # tile row is gathered and scattered back without masks.
        tokens = q_start[tiles].unsqueeze(-1) + torch.minimum(offs_q, q_len[tiles].unsqueeze(-1) - 1)
        tile_bh = q_block[tiles] // nq  # [c] batch-head of each tile
        rows = token_row_ids(tile_bh, tokens, sq, h).flatten()
        q_tile = queries.index_select(0, rows).view(c, 1, tile_q, d)
        if need_lse:
            scores = torch.matmul(q_tile, keys.transpose(-1, -2)).float() * scale  # [c, 1, tile_q, K]
            scores.masked_fill_(~mask, float("-inf"))
            row_lse = torch.logsumexp(scores, dim=-1)
            probs = torch.exp(scores - row_lse.unsqueeze(-1))
            result = torch.matmul(probs.to(compute), values)
            lse.index_copy_(0, ((tile_bh * sq).unsqueeze(-1) + tokens).flatten(), row_lse.flatten())
        else:
            result = F.scaled_dot_product_attention(q_tile, keys, values, attn_mask=mask, scale=scale)
        out.index_copy_(0, rows, result.reshape(-1, d))
        start = stop
    out = out.view(b, sq, h, d).to(q.dtype)
    if lse is None:
        return out, q.new_empty(0, dtype=torch.float32)
    return out, lse.view(b, h, sq)
