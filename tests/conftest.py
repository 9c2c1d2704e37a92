"""Test-wide settings. Without a GPU, Triton kernels run in the CPU interpreter (TRITON_INTERPRET=1);
`DIT_ACCEL_TEST_CUDA=1` asks for the native CUDA kernels instead (benchmarks/gpu.sh) and stops the run
when there is no CUDA device or the interpreter is forced. fp32 dots are IEEE (not tf32) so fp32
results can be held to 1e-5."""

import os

import pytest
import torch

if os.environ.get("DIT_ACCEL_TEST_CUDA") == "1":
    if not torch.cuda.is_available():
        raise pytest.UsageError("DIT_ACCEL_TEST_CUDA=1 needs a CUDA device; torch sees none")
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise pytest.UsageError("DIT_ACCEL_TEST_CUDA=1 runs the kernels natively: unset TRITON_INTERPRET")
elif not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TRITON_F32_DEFAULT", "ieee")
