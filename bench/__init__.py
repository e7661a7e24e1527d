"""Measurement: how fast is the fast path? `python -m bench`.

__main__.py     the command line and the run: which rows, the rounds, the table, --json
steps.py        the rows that time this repository's steps: reference, fast (fused, composed)
baselines.py    what they are measured against: matmuls-only (the GEMMs alone), sgemm, torch
gpu.py          the GPU rows and the GPU's FP32 peak
timing.py       a row, its threads, and how it is timed in interleaved rounds
report.py       the results per row, their ratios, and the printed table
environment.py  the machine, code and libraries the numbers depend on (--json)
compile.py      python -m bench.compile: where the first run's seconds go, function by function
results/        recorded outputs: bench-cpu-busy1.json and bench-cpu-busy3.json (--busy 1
                and 3), and the GPU logs of bench/run_gpu.sh
run_gpu.sh      the one prepared GPU run: the GPU tests, the benchmark, run.py on the GPU
"""
