"""Measurement: how fast is the fast path? `python -m bench`.

__main__.py   the benchmark: every row timed in interleaved rounds, ratios in one run
results/      its recorded outputs: bench-cpu.json, and the GPU logs of bench/run_gpu.sh
run_gpu.sh    the one prepared GPU run: the GPU tests, the benchmark, run.py on the GPU
"""
