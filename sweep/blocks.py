"""One block of a grid: its runs trained as one population, then evaluated.

Each run is the single run of run.py with its arguments, bit for bit on the CPU. A block is
checkpointed every CHECKPOINT_EVERY steps (cli/checkpoint.py's format, with the block's runs
among its arguments), so that an interrupted sweep resumes it.
"""

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from cli import checkpoint
from fast import fused_step_cpu
from fast import gan as fast_gan
from fast import metrics as fast_metrics
from reference.config import GANConfig
from reference.data import DIGITS
from reference.metrics import IMAGE_METRICS

RUN_COLUMNS = ("dataset", "d_steps", "method", "seed", "sigma0", "anneal", "anneal_steps",
               "real_target", "label_flip", "penalty", "gamma", "steps", "batch", "hidden",
               "latent", "lr", "modes_captured", "modes_total", "high_quality_fraction",
               "reverse_kl", "energy_distance", "final_loss_D", "final_loss_G", "diverged",
               "collapsed", "block_seconds")  # fmt: skip
METRICS = ("modes_captured", "high_quality_fraction", "reverse_kl", "energy_distance")


def run_metrics(dataset: str) -> tuple[str, ...]:
    """The metrics of a run on the dataset: METRICS, and the image metrics for images."""
    return METRICS + IMAGE_METRICS * (dataset == DIGITS)


def run_columns(grid) -> tuple[str, ...]:
    """runs.csv's columns for the grid: RUN_COLUMNS, and the image metrics for images."""
    return RUN_COLUMNS + IMAGE_METRICS * grid.images


CHECKPOINT_EVERY = 500
# said below the progress bar's line
COMPILING = "\npython -m sweep: stopping after compilation (Ctrl-C again stops at once)"


def stored_config(stored: dict) -> dict:
    """A GANConfig's fields as a sweep stored them, read as this GANConfig's
    (checkpoint.upgrade): a field they lack has its default, which is the run they made."""
    return checkpoint.upgrade(stored, asdict(GANConfig()))


def block_arguments(population) -> dict:
    """What a block's checkpoint stores as its arguments: its runs, so that a checkpoint of
    another grid's block is never read."""
    runs = [asdict(member) for member in population.members]
    return {"d_steps": population.base.d_steps, "runs": runs}


def saved_block(population, path: Path) -> tuple[int, dict]:
    """(step, arrays) of the block's checkpoint at path; CheckpointError if it is not
    readable, or not this block's. Its training seconds so far, arrays['seconds'], are a
    finite number >= 0 (0 where a checkpoint has none)."""
    start, arguments, arrays = checkpoint.load(path)
    try:
        stored_runs = [stored_config(run) for run in arguments.get("runs", [])]
    except (TypeError, AttributeError, ValueError):  # not a list of runs' fields
        stored_runs = None
    if stored_runs != json.loads(json.dumps(block_arguments(population)["runs"])):
        raise checkpoint.CheckpointError(f"{path} is the checkpoint of another block")
    spec_G, spec_D = population.base.generator_spec(), population.base.discriminator_spec()
    checkpoint.check_shapes(arrays, population.size, spec_G.n_params, spec_D.n_params)
    seconds = np.asarray(arrays.get("seconds", 0.0))
    if seconds.shape != () or seconds.dtype.kind not in "iuf" or not 0 <= seconds < np.inf:
        raise checkpoint.CheckpointError(f"{path} holds no valid training time ({seconds!r})")
    return start, arrays | {"seconds": float(seconds)}


def train_block(population, path: Path, stop, advance) -> tuple[dict, dict, float] | None:
    """Train a block to its last step, from its checkpoint at path if there is one, saving
    it every CHECKPOINT_EVERY steps and when stopped. Returns (the trained state's arrays,
    the last record, the seconds it trained in every process that worked on it: the
    checkpoint keeps the count), or None when stopped. advance(n) is told of every step. A
    stop asked while the first step compiles the kernels is acknowledged at once
    (stop.notice)."""
    stored, started = block_arguments(population), time.perf_counter()
    if not fused_step_cpu.compiled(population):
        stop.notice = COMPILING  # until the first step is done
    start, state, earlier = 0, None, 0.0
    if path.exists():
        start, arrays = saved_block(population, path)
        state = checkpoint.population_state(population, arrays, "cpu")
        earlier = arrays["seconds"]
        advance(start)
    state = state or fast_gan.init_state(population, "cpu")
    steps, last = population.base.steps, None

    def seconds() -> float:
        return earlier + time.perf_counter() - started

    with np.errstate(over="ignore", invalid="ignore"):  # a diverging GAN is a result here
        for step in range(start, steps):
            last, _ = fast_gan.train_step(population, state, step)
            stop.notice = None
            advance(1)
            stopping = stop.signum is not None and step + 1 < steps
            if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < steps or stopping:
                arrays = checkpoint.population_arrays(state) | {"seconds": seconds()}
                checkpoint.save(path, step + 1, stored, arrays)
            if stopping:
                return None
    return checkpoint.population_arrays(state), last, seconds()


def evaluate_block(runs, arrays: dict, last: dict, seconds: float) -> list[dict]:
    """One row per run of a block (run_columns). A run whose parameters or final losses are
    not finite diverged, and its metrics are empty; the others are evaluated together, as one
    population (fast/metrics.py: each run's metrics are those of run.py's single run)."""
    rows, finished, metrics = [], [], run_metrics(runs[0][1].dataset)
    for p, (method, config) in enumerate(runs):
        finals = float(last["loss_D"][p]), float(last["loss_G"][p])
        parameters = (arrays[name][p] for name in ("theta_G", "theta_D"))
        diverged = not (all(np.isfinite(theta).all() for theta in parameters)
                        and np.isfinite(finals).all())  # fmt: skip
        row = {name: value for name, value in asdict(config).items() if name in RUN_COLUMNS}
        row |= {"method": method, "final_loss_D": finals[0], "final_loss_G": finals[1],
                "diverged": diverged, "block_seconds": round(seconds, 1)}  # fmt: skip
        if diverged:  # empty, as runs.csv has them
            row |= dict.fromkeys((*metrics, "modes_total"), "")
        rows.append(row)
        finished += [] if diverged else [p]
    if finished:
        population = fast_gan.PopulationConfig(tuple(runs[p][1] for p in finished))
        results, _, _ = fast_metrics.evaluate_generator(population, arrays["theta_G"][finished])
        for p, result in zip(finished, results, strict=True):
            rows[p] |= {name: result[name] for name in (*metrics, "modes_total")}
    for row in rows:
        row["collapsed"] = not row["diverged"] and row["modes_captured"] <= 1
    return rows
