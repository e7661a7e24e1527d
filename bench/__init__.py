"""Measurement: how fast is the fast path? `python -m bench`.

__main__.py     the command line and the run: which rows, the rounds, the table, --json
steps.py        the rows that time this repository's steps: reference, fast (fused, composed)
baselines.py    what they are measured against: matmuls-only (the GEMMs alone), sgemm, torch
gpu.py          the GPU rows and the GPU's FP32 peak
timing.py       a row, its threads, and how it is timed in interleaved rounds
report.py       the results per row, their ratios, and the printed table
environment.py  the machine, code and libraries the numbers depend on (--json)
results/        recorded outputs: bench-cpu.json, and the GPU logs of bench/run_gpu.sh
run_gpu.sh      the one prepared GPU run: the GPU tests, the benchmark, run.py on the GPU
"""
