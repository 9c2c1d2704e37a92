"""Test-wide settings: without a GPU, Triton kernels run in the CPU interpreter. fp32 dots are
IEEE (not tf32) so fp32 results can be held to 1e-5."""

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TRITON_F32_DEFAULT", "ieee")
