"""python -m bench [--rounds R] [--repeats N] [--device all|cpu|gpu] [--busy N] [--json FILE]:
one training step of the standard configuration, timed side by side for every
implementation available here, in rounds, so that other work on the machine shows as
spread, not as a wrong ratio; with --busy N each row is timed a second time in every round
beside N CPU-bound processes of the benchmark's own, and printed beside its quiet rate.
python -m bench --check-modes: instead, trains each compiled peer (JAX, torch.compile)
config.steps = 3000 steps and prints every GAN's modes captured.

The standard configuration: `ring` data, latent 8, two hidden layers of 128 in each network
(ReLU in G, LeakyReLU 0.2 in D), batch 256 real + 256 fake, Adam, sigma = 0.1, one D step
and one G step. One row per implementation, variant, device and population size P:

    bench/steps.py       this repository's steps: reference, fast (fused, composed)
    bench/baselines.py   what they are measured against: matmuls-only, sgemm, torch, and
                         the compiled peers (where jax or torch imports): jax/jit and
                         jax/scan at each CPU P, torch/compile at P = 1, torch/compile+vmap
                         above; each with its compile time (first call)
    bench/gpu.py         the GPU rows (fast: train_step, preallocated, graph; torch;
                         matmuls-only) and the GPU's FP32 peak

How a row is timed, in interleaved rounds: bench/timing.py. The table and its ratios:
bench/report.py. The load average is read before the rows are built and after the last
round, and printed. --json records every round's figures and each row's GEMM FLOPs per
step, the load averages, the --device given, SETTLE_S, the date, and the environment
(bench/environment.py). --device gpu runs only the reference and the GPU rows.
"""

import argparse
import datetime
import json
import os

from bench.baselines import matmuls_only_row, sgemm_rows, torch_row
from bench.environment import environment
from bench.gpu import gpu_rows
from bench.peers import check_modes, peer_rows
from bench.report import print_table, results
from bench.steps import composed_row, fast_row, reference_row
from bench.timing import SETTLE_S, Row, run_rounds
from fast import device
from reference.config import GANConfig

STANDARD = GANConfig(sigma0=0.1)
CPU_POPULATIONS = (1, 16)
GPU_POPULATIONS = (1, 64, 1024)


def build_rows(
    config, populations_cpu: tuple[int, ...], populations_gpu: tuple[int, ...], where: str = "all"
) -> list[Row]:
    """Every row, built and warmed up. where: 'all' (the CPU rows, then the GPU's if there
    is one), 'cpu' or 'gpu'; the reference row, every 'x reference' ratio's baseline,
    always comes first."""
    rows = [reference_row(config)]
    if where in ("all", "cpu"):
        rows += [fast_row(config, "cpu", P) for P in populations_cpu]
        rows += [composed_row(config, P) for P in populations_cpu]
        rows += [r for r in [torch_row(config, "cpu")] if r is not None]
        rows += peer_rows(config, populations_cpu)
        rows += [matmuls_only_row(config, P) for P in populations_cpu]
        rows += sgemm_rows(config)
    if where == "gpu" or (where == "all" and device.gpu_available()):
        rows += gpu_rows(config, populations_gpu)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time one training step of the standard configuration for every "
        "implementation available here, side by side, interleaved over rounds.",
    )
    parser.add_argument("--json", help="also write the rows and the environment to this file")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds; each row is timed once per round, in rotating order "
                        "(default 5, at least 3 for a spread worth the name)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed blocks per row per round; a round's figure is their "
                        "median (default 5)")  # fmt: skip
    parser.add_argument(
        "--device",
        choices=("all", "cpu", "gpu"),
        default="all",
        help="which rows besides the reference: all (the GPU's where present), cpu or gpu",
    )
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="also time every row beside N CPU-bound processes of the "
                        "benchmark's own (started and stopped in each round), and print "
                        "each row's rate beside its quiet rate (default 0)")  # fmt: skip
    parser.add_argument("--check-modes", action="store_true",
                        help="instead of timing, train each compiled peer 3000 steps (sigma "
                        "0.1, ring) and print every GAN's modes captured")  # fmt: skip
    args = parser.parse_args(argv)
    if args.check_modes:
        for result in check_modes(STANDARD, CPU_POPULATIONS):
            print(f"{result['peer']:20s} P={result['population']:<3d} modes captured "
                  f"(of {result['modes_total']}) per GAN: {result['modes_captured']}",
                  flush=True)  # fmt: skip
        return
    for name in ("rounds", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.busy < 0:
        parser.error(f"--busy must be at least 0, got {args.busy}")
    if args.device == "gpu" and not device.gpu_available():
        parser.error("--device: gpu needs CuPy and a CUDA device, and none was found "
                     "(use cpu or all)")  # fmt: skip
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = {"before": os.getloadavg()}
    rows = build_rows(STANDARD, CPU_POPULATIONS, GPU_POPULATIONS, args.device)
    run_rounds(rows, args.rounds, args.repeats, args.busy)
    load["after"] = os.getloadavg()
    entries = results(rows)
    print_table(entries, args.rounds, load)
    if args.json:
        gpu = any(r.device == "gpu" for r in rows)
        record = {"date": date, "device": args.device, "settle_s_before_cpu_rows": SETTLE_S,
                  "environment": environment(STANDARD, gpu), "load_average_1_5_15_min": load,
                  "rounds": args.rounds, "repeats": args.repeats, "busy": args.busy,
                  "rows": entries}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
