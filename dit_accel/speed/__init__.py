"""Speed benchmarks: the kernel against SDPA and FlexAttention (`kernels`), each method's planning time
(`planning`) and one transformer forward per method (`pipeline`); run by `benchmarks/*.py` and
`dit-accel bench`."""
