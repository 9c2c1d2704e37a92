"""Block-sparse attention kernels: Triton forward, plain-torch sparse path, dense reference."""

from dit_accel.kernels.block_sparse.naive import block_sparse_attention_naive
from dit_accel.kernels.block_sparse.torch_sparse import block_sparse_attention_torch

__all__ = ["block_sparse_attention_naive", "block_sparse_attention_torch"]
