"""Test-wide settings: Triton kernels run in the CPU interpreter with IEEE fp32 dots."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("TRITON_F32_DEFAULT", "ieee")
