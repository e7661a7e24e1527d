"""Train a small MLP GAN on a toy distribution, with instance noise, and show how it went.

    python run.py --sigma0 0.1

trains, shows a progress bar, prints a summary and writes into a new folder --out:
samples.png (data and generated samples over D(x), and the loss curves), metrics.json
(reference/metrics.py's metrics, final losses, seconds, arguments, versions) and
history.csv (step, sigma, loss_D, loss_G, D_real, D_fake every --log-every steps). With
--population P > 1 it trains P GANs at once (seeds seed, seed + 1, ..., one --sigma0 value
each) and writes population.csv (a row per GAN) instead of samples.png.

Ctrl-C or SIGTERM stops training after the step in progress and writes every output for the
state reached, with checkpoint.npz; `python run.py --resume FOLDER` continues bit for bit.
Every file is written under a temporary name and then renamed (cli/checkpoint.py).
The options and their checks are cli/options.py's (the configuration checks itself:
reference/gan.py's GANConfig); exit statuses are in `python run.py --help`.
"""

import csv
import itertools
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cli import checkpoint
from cli.files import open_history, write_atomically, write_csv
from cli.options import (
    EXIT_NON_FINITE,
    EXIT_OUT_OF_MEMORY,
    EXIT_SIGNAL,
    make_parser,
    parse,
)
from cli.stop import StopRequest
from fast import fused_step_cpu
from fast import gan as fast_gan
from fast import metrics as fast_metrics
from figures import samples
from reference import gan, metrics
from reference.config import GANConfig

# loss_D is D's objective: its logistic loss, plus its gradient penalty where it has one
HISTORY_COLUMNS = ("step", "sigma", "loss_D", "loss_G", "D_real", "D_fake")
METRIC_NAMES = ("modes_captured", "modes_total", "high_quality_fraction", "reverse_kl",
                "energy_distance")  # fmt: skip
POPULATION_COLUMNS = ("gan", "seed", "sigma0", "gamma", *METRIC_NAMES, "final_loss_D",
                      "final_loss_G")  # fmt: skip


def start_training(args, members: list[GANConfig], resumed):
    """(arrays_of, start, records): a function giving the state's checkpoint arrays (fresh,
    or the checkpoint's), the first step, and an iterator over each step's record of (P,)
    host arrays from start on."""
    start, arrays, _ = resumed or (0, None, None)
    if args.backend == "reference":
        (config,) = members
        state = (
            gan.init_state(config) if arrays is None else checkpoint.reference_state(config, arrays)
        )
        records = ({k: v if k == "step" else np.atleast_1d(v) for k, v in record.items()}
                   for record in gan.train(config, state, start))  # fmt: skip
        return lambda: checkpoint.reference_arrays(state), start, records

    population = fast_gan.PopulationConfig(tuple(members))
    if arrays is None:
        state = fast_gan.init_state(population, args.device)
    else:
        state = checkpoint.population_state(population, arrays, args.device)
    if args.device == "cpu" and not fused_step_cpu.compiled(args.population):
        print("compiling the fast kernels (first run only: some seconds)...", file=sys.stderr)
    return (
        lambda: checkpoint.population_arrays(state),
        start,
        fast_gan.train(population, state, start),
    )


def progress(records, steps: int, start: int, log_every: int):
    """The records, under a progress bar that starts after the first step, so that its rate
    and time left leave out compiling."""
    records = iter(records)
    first = next(records)
    with tqdm(total=steps, initial=start + 1, unit="step", dynamic_ncols=True) as bar:
        for record in itertools.chain([first], records):
            bar.update(record is not first)
            if record["step"] % log_every == 0 or record["step"] == steps - 1:
                # a population shows its median losses and its largest sigma
                bar.set_postfix(D=f"{np.median(record['loss_D']):.3f}",
                                G=f"{np.median(record['loss_G']):.3f}",
                                sigma=f"{np.max(record['sigma']):.3g}")  # fmt: skip
            yield record


def versions() -> dict:
    packages = ("numpy", "scipy", "numba", "matplotlib", "tqdm")
    return {"python": platform.python_version(), "platform": platform.platform(),
            **{name: version(name) for name in packages}}  # fmt: skip


def run(args, members: list[GANConfig], resumed, stop: StopRequest) -> dict:
    """Train, writing history.csv as it goes and checkpoint.npz every --checkpoint-every
    steps, until --steps or a stop; then evaluate and write the rest. Returns metrics.json's
    content: 'interrupted_at' the step reached when stopped, 'error' when a loss turned
    non-finite."""
    started, config, folder = time.perf_counter(), members[0], args.out
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    evaluation = {"samples": metrics.EVAL_SAMPLES, "counter_step": metrics.EVAL_STEP}
    summary = {"arguments": arguments, "config": asdict(config), "seed": config.seed,
               "versions": versions(), "evaluation": evaluation}  # fmt: skip
    columns = ("step", "gan", *HISTORY_COLUMNS[1:]) if len(members) > 1 else HISTORY_COLUMNS
    arrays_of, reached, records = start_training(args, members, resumed)
    last = None  # the last record

    def save_checkpoint(step: int) -> None:
        os.fsync(file.fileno())  # the history before a checkpoint is on disk before it
        stored = {k: v for k, v in arguments.items() if k not in ("out", "resume")}
        checkpoint.save(folder / "checkpoint.npz", step, stored, arrays_of())

    old = resumed[2] if resumed else {"steps": 0, "log_every": 1}  # the run resumed, if any
    last_was_final = reached == old["steps"] and (reached - 1) % old["log_every"] != 0
    history = open_history(folder / "history.csv", columns, reached, last_was_final)
    # NumPy's overflow warnings off: an overflow is reported once, as the non-finite loss
    with history as file, np.errstate(over="ignore", invalid="ignore"):
        writer = csv.DictWriter(file, columns, extrasaction="ignore")
        try:
            for record in progress(records, config.steps, reached, args.log_every):
                last, step, reached = record, record["step"], record["step"] + 1
                if step % args.log_every == 0 or step == config.steps - 1:
                    # sigma from the float64 schedule: the record holds the kernels' float32
                    rows = [{name: float(record[name][p]) for name in HISTORY_COLUMNS[2:]}
                            | {"step": step, "gan": p, "sigma": member.sigma_at(step)}
                            for p, member in enumerate(members)]  # fmt: skip
                    writer.writerows(rows)
                    file.flush()  # a row is on the page as soon as it is logged
                if reached % args.checkpoint_every == 0:
                    save_checkpoint(reached)
                if stop.signum is not None:
                    break
        except gan.NonFiniteLossError as failure:
            gans = getattr(failure, "gans", [0])  # a population's error names its GANs
            writer.writerow({"gan": gans[0]} | failure.record)
            summary |= {"error": str(failure), "failed_step": failure.step, "failed_gans": gans}
        if "error" not in summary and reached % args.checkpoint_every != 0:
            save_checkpoint(reached)  # the step reached, unless the loop just saved it
    if "error" not in summary:
        if reached < config.steps:
            summary["interrupted_at"] = reached
        summary["training_seconds"] = time.perf_counter() - started
        summary |= evaluate(args.backend, members, arrays_of(), last, folder)
    return summary | {"seconds": time.perf_counter() - started}


def evaluate(backend: str, members: list[GANConfig], arrays: dict, last, folder: Path) -> dict:
    """Score every GAN's generator: the fast backend's all at once (fast/metrics.py, which
    gives GAN p of a population its single run's metrics bit for bit), the reference's with
    reference/metrics.py; write samples.png (one GAN) or population.csv. Returns what
    metrics.json adds: the metrics and final losses, or the per-GAN rows, and the seconds
    the metrics took."""
    theta_G, theta_D = (arrays[name].astype(np.float64) for name in ("theta_G", "theta_D"))
    started = time.perf_counter()
    if backend == "fast":
        population = fast_gan.PopulationConfig(tuple(members))
        results, x_real, x_fake = fast_metrics.evaluate_generator(population, theta_G)
    else:
        (member,) = members
        result, x_real, x_fake = metrics.evaluate_generator(member, theta_G[0])
        results, x_real, x_fake = [result], x_real[None], x_fake[None]
    seconds = {"evaluation_seconds": time.perf_counter() - started}
    rows = [{"gan": p, "seed": member.seed, "sigma0": member.sigma0, "gamma": member.gamma}
            | {name: result[name] for name in METRIC_NAMES}
            | {"final_loss_D": float(last["loss_D"][p]), "final_loss_G": float(last["loss_G"][p])}
            for p, (member, result) in enumerate(zip(members, results, strict=True))]  # fmt: skip
    if len(members) == 1:
        with open(folder / "history.csv", newline="") as file:  # every logged row, resumed too
            history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]
        write_atomically(folder / "samples.png", lambda path: samples.plot(
            members[0], history, theta_D[0], x_real[0], x_fake[0], results[0], path))  # fmt: skip
        finals = {name: rows[0][name] for name in ("final_loss_D", "final_loss_G")}
        return results[0] | finals | seconds

    write_csv(folder / "population.csv", POPULATION_COLUMNS, rows)
    return {"sigma0_levels": metrics.summary_by_sigma0(rows), "gans": rows} | seconds


def report(args, summary: dict) -> None:
    """The closing lines on stdout: the metrics, or one line per sigma0."""
    figure = "population.csv" if args.population > 1 else "samples.png"
    names = f"{{{figure},metrics.json,history.csv,checkpoint.npz}}"
    for level in summary.get("sigma0_levels", []):
        weight = f", gamma {level['gamma']:g}" if args.penalty != "none" else ""
        print(f"sigma0 {level['sigma0']:g}{weight}: {level['gans']} GAN(s), "
              f"{100 * level['all_modes_fraction']:.0f}% cover every mode, mean high-quality "
              f"fraction {level['mean_high_quality_fraction']:.3f}, mean reverse KL "
              f"{level['mean_reverse_kl']:.4f}")  # fmt: skip
    if args.population > 1:
        evaluation, training = summary["evaluation_seconds"], summary["training_seconds"]
        print(f"evaluation: {evaluation:.1f} s, {100 * evaluation / training:.1f}% of "
              f"training's {training:.1f} s")  # fmt: skip
        print(f"{args.population} GANs on {args.device}; {summary['seconds']:.1f} s; "
              f"wrote {args.out}/{names}")  # fmt: skip
        return
    print(f"modes covered {summary['modes_captured']}/{summary['modes_total']}, high-quality "
          f"fraction {summary['high_quality_fraction']:.3f}, reverse KL "
          f"{summary['reverse_kl']:.4f}, energy distance {summary['energy_distance']:.4f}\n"
          f"final losses D {summary['final_loss_D']:.4f}, G {summary['final_loss_G']:.4f}; "
          f"{summary['seconds']:.1f} s; wrote {args.out}/{names}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    stop = StopRequest()  # from here on Ctrl-C stops after a whole step
    try:
        args, members, resumed = parse(parser, sys.argv[1:] if argv is None else argv)
        summary = run(args, members, resumed, stop)
        content = json.dumps(summary, indent=2) + "\n"
        write_atomically(args.out / "metrics.json", lambda path: path.write_text(content))
    except MemoryError:
        if resumed is None and not (args.out / "checkpoint.npz").exists():
            shutil.rmtree(args.out, ignore_errors=True)  # this run's alone, and nothing in it
        print(f"run.py: out of memory: --batch {args.batch}, --hidden {args.hidden}, --latent "
              f"{args.latent}, --population {args.population} need more memory than this "
              "machine has", file=sys.stderr)  # fmt: skip
        return EXIT_OUT_OF_MEMORY
    finally:
        stop.restore()
    if "error" in summary:
        print(f"run.py: stopped: {summary['error']}; kept history.csv and metrics.json in "
              f"{args.out}", file=sys.stderr)  # fmt: skip
        return EXIT_NON_FINITE
    if "interrupted_at" in summary:
        print(
            f"run.py: interrupted at step {summary['interrupted_at']} of {args.steps}; kept "
            f"{args.out}/ (resume with: python run.py --resume {args.out})",
            file=sys.stderr,
        )
        return EXIT_SIGNAL + stop.signum
    report(args, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
