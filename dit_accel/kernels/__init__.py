"""Attention kernels on `[B, S, H, D]` tensors; nothing here knows about video."""
