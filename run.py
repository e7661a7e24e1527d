"""Train a small MLP GAN on a toy distribution or the digits, with instance noise, and show
how it went.

    python run.py --sigma0 0.1

trains, shows a progress bar, prints a summary and writes into a new folder --out:
samples.png (data and generated samples over D(x), or mosaics of digits, and the loss
curves), metrics.json (reference/metrics.py's metrics, final losses, seconds, arguments,
versions) and history.csv (step, sigma, loss_D, loss_G, D_real, D_fake every --log-every
steps). With --population P > 1 it trains P GANs at once (seeds seed, seed + 1, ..., one
--sigma0 value each) and writes population.csv (a row per GAN) instead of samples.png.

Ctrl-C or SIGTERM stops training after the step in progress and writes every output for
the state reached, with checkpoint.npz, and exits 128 + the signal's number; a second
stops at once. `python run.py --resume FOLDER` continues bit for bit, and finishes
whatever a crash left: the outputs of a trained run, or a run that stopped before its
first checkpoint (cli/folder.py). One process writes into a folder at a time
(cli/lock.py), every file but history.csv (appended row by row) under a temporary name
then renamed (cli/files.py); a write the operating system refuses is one line, and exit
status 5. The options and their checks are cli/options.py's (the configuration checks
itself: reference/config.py's GANConfig); the exit statuses are cli/exits.py's, listed by
`python run.py --help`.
"""

import signal
import sys

try:  # Ctrl-C while the libraries load (seconds, on a cold disk) ends as quietly as later
    import csv
    import itertools
    import json
    import os
    import platform
    import shutil
    import time
    from collections.abc import Callable, Iterator
    from dataclasses import asdict, dataclass
    from importlib.metadata import version
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from cli import checkpoint, exits, options
    from cli import folder as run_folder
    from cli.files import (
        HISTORY_COLUMNS,
        History,
        csv_lines,
        history_columns,
        mark_of,
        write_atomically,
        write_csv,
    )
    from cli.lock import FolderLock
    from cli.options import Run, quoted
    from cli.stop import StopRequest
    from fast import fused_step_cpu
    from fast import gan as fast_gan
    from fast import metrics as fast_metrics
    from figures import samples
    from reference import gan, metrics
    from reference.data import DIGITS
except KeyboardInterrupt:
    print("run.py: stopped while starting; nothing written", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)

METRIC_NAMES = ("modes_captured", "modes_total", "high_quality_fraction", "reverse_kl",
                "energy_distance")  # fmt: skip


@dataclass(frozen=True)
class Training:
    """A run's training, ready to go: its first step, an iterator over each step's record
    ((P,) host arrays) from there on, and a function giving the state's checkpoint arrays
    at the step reached."""

    start: int
    records: Iterator[dict]
    arrays: Callable[[], dict]


def start_training(run: Run, stop: StopRequest) -> Training:
    """The training of run on its backend, from a fresh state or from the checkpoint it
    resumes."""
    start, arrays = (run.resume.step, run.resume.arrays) if run.resume else (0, None)
    population, where = run.population, run.args.device
    if run.args.backend == "reference":
        (config,) = population.members
        state = (
            gan.init_state(config) if arrays is None else checkpoint.reference_state(config, arrays)
        )
        records = ({k: v if k == "step" else np.atleast_1d(v) for k, v in record.items()}
                   for record in gan.train(config, state, start))  # fmt: skip
        return Training(start, records, lambda: checkpoint.reference_arrays(state))

    if arrays is None:
        state = fast_gan.init_state(population, where)
    else:
        state = checkpoint.population_state(population, arrays, where)
    records = fast_gan.train(population, state, start)
    if start < run.args.steps and where == "cpu" and not fused_step_cpu.compiled(population):
        print("compiling the fast kernels (first run only: some seconds)...", file=sys.stderr)
        notice = "run.py: stopping after compilation (Ctrl-C again stops at once)"
        records = stop.noticed(records, notice)
    return Training(start, records, lambda: checkpoint.population_arrays(state))


def logged(step: int, steps: int, log_every: int) -> bool:
    """Whether a step has its row in history.csv: every log_every-th does, and the last."""
    return step % log_every == 0 or step == steps - 1


def history_rows(population: fast_gan.PopulationConfig, record: dict) -> list[dict]:
    """history.csv's rows of a step's record, one per GAN. sigma is each GAN's float64
    schedule (GANConfig.sigma_at), the same on both backends, where the fast record holds
    the float32 its kernels used."""
    step = record["step"]
    return [{name: float(record[name][p]) for name in HISTORY_COLUMNS[2:]}
            | {"step": step, "gan": p, "sigma": member.sigma_at(step)}
            for p, member in enumerate(population.members)]  # fmt: skip


def logged_record(path: Path, step: int) -> dict:
    """The losses history.csv logged at step, as a record of (P,) arrays: as exact as the
    record's own (csv writes repr(float))."""
    with open(path, newline="") as file:
        rows = [row for row in csv.DictReader(file) if int(row["step"]) == step]
    return {name: np.array([float(row[name]) for row in rows]) for name in ("loss_D", "loss_G")}


def progress(records, steps: int, start: int, log_every: int):
    """The records, under a progress bar that starts after the first step, so that its rate
    and time left leave out compiling. None at all: no bar."""
    records = iter(records)
    first = next(records, None)
    if first is None:
        return
    with tqdm(total=steps, initial=start + 1, unit="step", dynamic_ncols=True) as bar:
        for record in itertools.chain([first], records):
            bar.update(record is not first)
            if logged(record["step"], steps, log_every):
                # a population shows its median losses and its largest sigma
                bar.set_postfix(D=f"{np.median(record['loss_D']):.3f}",
                                G=f"{np.median(record['loss_G']):.3f}",
                                sigma=f"{np.max(record['sigma']):.3g}")  # fmt: skip
            yield record


def versions() -> dict:
    packages = ("numpy", "scipy", "numba", "matplotlib", "tqdm")
    return {"python": platform.python_version(), "platform": platform.platform(),
            **{name: version(name) for name in packages}}  # fmt: skip


def train_and_evaluate(run: Run, stop: StopRequest) -> dict:
    """Train, writing history.csv as it goes and checkpoint.npz every --checkpoint-every
    steps, until --steps or a stop; then evaluate and write the rest. Returns metrics.json's
    content: 'interrupted_at' the step reached when stopped, 'error' when a loss turned
    non-finite. A resumed run at its last step trains nothing: it evaluates."""
    started, args, population = time.perf_counter(), run.args, run.population
    config, folder = population.base, args.out
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    evaluation = {"samples": metrics.EVAL_SAMPLES, "counter_step": metrics.EVAL_STEP}
    summary = {"arguments": arguments, "config": asdict(config), "seed": config.seed,
               "versions": versions(), "evaluation": evaluation}  # fmt: skip
    columns, every = history_columns(population.size), args.checkpoint_every
    logged_so_far = run.resume.history if run.resume else csv_lines(columns, [], header=True)
    training = start_training(run, stop)
    reached, last = training.start, None  # the next step to run, and the last record

    def save_checkpoint(step: int, mark: dict) -> None:  # mark: the history it vouches for
        arrays = training.arrays() | mark
        checkpoint.save(folder / "checkpoint.npz", step, options.stored_arguments(args), arrays)

    resumed = run.resume.arrays if run.resume else None
    if resumed is not None and len(logged_so_far) != int(resumed["history_bytes"]):
        # history.csv loses the rows the stored run logged as its last step: its checkpoint
        # says so first, or a crash before the next one would leave a history that the
        # checkpoint no longer vouches for
        save_checkpoint(training.start, mark_of(logged_so_far))

    # NumPy's overflow warnings off: an overflow is reported once, as the non-finite loss
    with (
        History(folder / "history.csv", columns, logged_so_far) as history,
        np.errstate(over="ignore", invalid="ignore"),
    ):
        try:
            for record in progress(training.records, config.steps, reached, args.log_every):
                last, reached = record, record["step"] + 1
                if logged(record["step"], config.steps, args.log_every):
                    history.write(history_rows(population, record))
                if reached % every == 0:
                    save_checkpoint(reached, history.mark())
                if stop.signum is not None:
                    break
        except gan.NonFiniteLossError as failure:
            gans = getattr(failure, "gans", [0])  # a population's error names its GANs
            sigma = population.members[gans[0]].sigma_at(failure.step)  # as history_rows
            history.write([failure.record | {"gan": gans[0], "sigma": sigma}])
            summary |= {"error": str(failure), "failed_step": failure.step, "failed_gans": gans}
        if "error" not in summary and reached > training.start and reached % every != 0:
            save_checkpoint(reached, history.mark())  # the step reached, unless saved already
    if "error" not in summary:
        stop.notice = "run.py: writing the outputs, then stopping (Ctrl-C again stops at once)"
        if reached < config.steps:
            summary["interrupted_at"] = reached
        summary["training_seconds"] = time.perf_counter() - started
        last = last or logged_record(folder / "history.csv", reached - 1)  # trained nothing
        summary |= evaluate(run, training.arrays(), last, reached)
    return summary | {"seconds": time.perf_counter() - started}


def evaluate(run: Run, arrays: dict, last: dict, reached: int) -> dict:
    """Score every GAN's generator: the fast backend's all at once (fast/metrics.py, which
    gives GAN p of a population its single run's metrics bit for bit), the reference's with
    reference/metrics.py; write samples.png (one GAN) or population.csv. Returns what
    metrics.json adds: the metrics and final losses, or the per-GAN rows, and the seconds
    the metrics took."""
    population, members, folder = run.population, run.population.members, run.args.out
    theta_G, theta_D = (arrays[name].astype(np.float64) for name in ("theta_G", "theta_D"))
    started = time.perf_counter()
    if run.args.backend == "fast":
        results, x_real, x_fake = fast_metrics.evaluate_generator(population, theta_G)
    else:
        result, x_real, x_fake = metrics.evaluate_generator(population.base, theta_G[0])
        results, x_real, x_fake = [result], x_real[None], x_fake[None]
    seconds = {"evaluation_seconds": time.perf_counter() - started}
    names = METRIC_NAMES + metrics.IMAGE_METRICS * (population.base.dataset == DIGITS)
    rows = [{"gan": p, "seed": member.seed, "sigma0": member.sigma0, "gamma": member.gamma}
            | {name: result[name] for name in names}
            | {"final_loss_D": float(last["loss_D"][p]), "final_loss_G": float(last["loss_G"][p])}
            for p, (member, result) in enumerate(zip(members, results, strict=True))]  # fmt: skip
    if len(members) == 1:
        with open(folder / "history.csv", newline="") as file:  # every logged row, resumed too
            history = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]
        drawn = members[0], history, theta_D[0], x_real[0], x_fake[0], results[0], reached
        write_atomically(folder / "samples.png", lambda path: samples.plot(*drawn, path))
        finals = {name: rows[0][name] for name in ("final_loss_D", "final_loss_G")}
        return results[0] | finals | seconds

    write_csv(folder / "population.csv", list(rows[0]), rows)
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
          f"{summary['reverse_kl']:.4f}, energy distance {summary['energy_distance']:.4f}"
          + (f", mean confidence {summary['mean_confidence']:.3f}, digits FID "
             f"{summary['frechet_distance']:.2f}" if args.dataset == DIGITS else "")
          + "\n"
          f"final losses D {summary['final_loss_D']:.4f}, G {summary['final_loss_G']:.4f}; "
          f"{summary['seconds']:.1f} s; wrote {args.out}/{names}")  # fmt: skip


def out_of_memory(run: Run | None) -> str:
    """The one line that says the run ran out of memory, naming the options that size it."""
    if run is None:  # in parsing: --population's GANs, or --resume's checkpoint
        return "run.py: out of memory reading the arguments: they need more than this machine has"
    args = run.args
    return (f"run.py: out of memory: --batch {args.batch}, --hidden {args.hidden}, --latent "
            f"{args.latent}, --population {args.population} need more memory than this "
            "machine has")  # fmt: skip


def write_failed(run: Run | None, error: OSError) -> str:
    """The one line that says a write failed: the file (files.naming names it) and why."""
    what = f"could not write {error.filename}" if error.filename else "a write failed"
    return f"run.py: {what}: {error.strerror or error}; {left(run)}"


def left(run: Run | None) -> str:
    """What a run that ends before its outputs leaves: its folder, with the command that
    continues it, once it has its run.json."""
    if run is None or not (run.args.out / run_folder.RECORD).exists():
        return "nothing written"
    return f"kept {run.args.out}/ (resume with: python run.py --resume {quoted(run.args.out)})"


def ended(run: Run, summary: dict, stop: StopRequest) -> int:
    """The closing lines, and the exit status."""
    args = run.args
    if "error" in summary:
        print(f"run.py: stopped: {summary['error']}; kept history.csv and metrics.json in "
              f"{args.out}", file=sys.stderr)  # fmt: skip
        return exits.NON_FINITE
    if "interrupted_at" in summary:
        print(f"run.py: interrupted at step {summary['interrupted_at']} of {args.steps}; "
              f"{left(run)}", file=sys.stderr)  # fmt: skip
        return exits.SIGNAL + stop.signum
    report(args, summary)
    if stop.signum is not None:  # it came during the last step or the final writes
        print(f"run.py: {signal.Signals(stop.signum).name} came after the last step; every "
              "output is written", file=sys.stderr)  # fmt: skip
        return exits.SIGNAL + stop.signum
    return exits.OK


def main(argv: list[str] | None = None) -> int:
    run = None  # the parsed run, once it is

    def at_once(signum: int) -> None:  # a second signal: its line, and out (cli/stop.py)
        os.write(2, f"run.py: stopped at once; {left(run)}\n".encode())
        FolderLock.before_exit()
        os._exit(exits.SIGNAL + signum)

    stop = StopRequest(at_once)  # from here on Ctrl-C stops after a whole step
    parser = options.make_parser()
    try:
        with options.claimed(parser, sys.argv[1:] if argv is None else argv) as run:
            summary = train_and_evaluate(run, stop)
            content = json.dumps(summary, indent=2) + "\n"
            write_atomically(run.args.out / "metrics.json", lambda path: path.write_text(content))
        return ended(run, summary, stop)  # a signal now is still a request: no traceback
    except MemoryError:
        if run and run.resume is None and not (run.args.out / "checkpoint.npz").exists():
            shutil.rmtree(run.args.out, ignore_errors=True)  # this run's alone, and nothing in it
        print(out_of_memory(run), file=sys.stderr)
        return exits.OUT_OF_MEMORY
    except OSError as error:
        print(write_failed(run, error), file=sys.stderr)
        return exits.WRITE_FAILED
    finally:
        stop.restore()


if __name__ == "__main__":
    sys.exit(main())
