"""python -m fast.sweep [--grid small|full|penalties|tiny] [--out FOLDER]: when does instance noise
stabilise training? Every method of a grid, over datasets, discriminator strengths and
seeds, measured with the same networks, optimiser and budget.

A grid's runs that share their network shapes and step (a dataset and a d_steps: a *block*)
train as one population of fast/gan.py, every method and seed a GAN of it, so one process
trains a whole block at once. Each run is the single run of run.py with its arguments, bit
for bit on the CPU. The sweep writes into --out:

    sweep.json    the sweep's arguments; running the same command again continues it, and
                  other arguments for the same folder are refused
    runs.csv      one row per run: its arguments, metrics, final losses, whether it diverged
                  (a non-finite loss) or collapsed (at most one mode), and the seconds
                  this process spent on its block
    summary.csv   one row per cell (dataset, d_steps, method): mean and standard error over
    summary.md    the seeds of each metric, the success rate (every mode covered, no
                  divergence) with its 95% Wilson interval, and the runs that diverged or
                  collapsed
    block-*.npz   the checkpoint of the block in training (reference/checkpoint.py's format,
                  with the block's runs among its arguments)

Interrupted at any point (Ctrl-C, SIGTERM, a crash), the same command continues where it
stopped: finished blocks are kept and never recomputed, the block in training resumes from
its last checkpoint, and runs.csv is rewritten whole, atomically, as each block finishes.
"""

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fast import gan as fast_gan
from fast import metrics as fast_metrics
from reference import checkpoint, gan
from reference.checkpoint import write_atomically, write_csv

STEPS = 3000
METHODS = {  # name -> the GANConfig fields that make it; the names the README's tables use
    "no noise": {},
    "instance noise 0.1": {"sigma0": 0.1},
    "instance noise 0.2": {"sigma0": 0.2},
    "annealed 0.2 -> 0, linear": {"sigma0": 0.2, "anneal": "linear", "anneal_steps": STEPS},
    "annealed 0.2 -> 0.002, exponential": {
        "sigma0": 0.2,
        "anneal": "exponential",
        "anneal_steps": STEPS,
    },  # fmt: skip
    "annealed 0.2 -> 0.1, linear": {
        "sigma0": 0.2,
        "anneal": "linear",
        "anneal_steps": 2 * STEPS,
    },  # fmt: skip
    "label smoothing 0.9": {"label_smoothing": 0.9},
    "label flip 0.05": {"label_flip": 0.05},
    "label flip 0.1": {"label_flip": 0.1},
    # instance noise's analytic cousins (reference/penalty.py); on the Dirac-GAN, r1 at gamma
    # acts as noise at sigma = sqrt(2 gamma), roth as sigma = sqrt(gamma): the first of each
    # pair matches sigma = 0.2, the second is ten times stronger
    "R1 0.02": {"penalty": "r1", "gamma": 0.02},
    "R1 0.2": {"penalty": "r1", "gamma": 0.2},
    "Roth 0.04": {"penalty": "roth", "gamma": 0.04},
    "Roth 0.4": {"penalty": "roth", "gamma": 0.4},
}

# the methods of instance noise and label noise (the full grid's: it predates the
# penalties), and the penalties'
NOISE_AND_LABEL_METHODS = tuple(name for name in METHODS if "penalty" not in METHODS[name])
PENALTY_METHODS = tuple(name for name in METHODS if "penalty" in METHODS[name])


@dataclass(frozen=True)
class Grid:
    datasets: tuple[str, ...]
    d_steps: tuple[int, ...]
    methods: tuple[str, ...]
    seeds: int  # seeds 0 .. seeds - 1 in every cell
    base: gan.GANConfig = gan.GANConfig(steps=STEPS)


GRIDS = {
    "small": Grid(
        ("ring", "circle"),
        (1, 5),
        (
            "no noise",
            "instance noise 0.2",
            "annealed 0.2 -> 0, linear",
            "annealed 0.2 -> 0.1, linear",
            "label smoothing 0.9",
            "label flip 0.1",
        ),
        seeds=8,
    ),  # fmt: skip
    "full": Grid(("ring", "grid", "circle", "ring3d"), (1, 5), NOISE_AND_LABEL_METHODS, seeds=16),
    # the small grid's datasets, strengths, seeds and budget, with the penalties as methods:
    # to be read beside the small grid's no-noise and noise rows (the same seeds)
    "penalties": Grid(("ring", "circle"), (1, 5), PENALTY_METHODS, seeds=8),
    # for the tests and a first look: every part of the machinery in seconds
    "tiny": Grid(
        ("ring", "circle"),
        (1, 2),
        (
            "no noise",
            "instance noise 0.2",
            "annealed 0.2 -> 0.1, linear",
            "label flip 0.1",
            "Roth 0.4",
        ),
        seeds=2,
        base=gan.GANConfig(steps=400, batch=32, hidden=16),
    ),  # fmt: skip
}
RUN_COLUMNS = ("dataset", "d_steps", "method", "seed", "sigma0", "anneal", "anneal_steps",
               "label_smoothing", "label_flip", "penalty", "gamma", "steps", "batch", "hidden",
               "latent", "lr", "modes_captured", "modes_total", "high_quality_fraction",
               "reverse_kl", "energy_distance", "final_loss_D", "final_loss_G", "diverged",
               "collapsed", "block_seconds")  # fmt: skip
METRICS = ("modes_captured", "high_quality_fraction", "reverse_kl", "energy_distance")
CHECKPOINT_EVERY = 500
WILSON_Z = 1.959963984540054  # the normal quantile of a two-sided 95% interval


def block_members(grid: Grid, dataset: str, d_steps: int) -> list[tuple[str, gan.GANConfig]]:
    """(method, config) of every run of a block, method by method, seed by seed."""
    scale = grid.base.steps / STEPS  # the methods' anneal_steps are given for STEPS steps
    runs = []
    for method in grid.methods:
        fields = dict(METHODS[method])
        if "anneal_steps" in fields:
            fields["anneal_steps"] = max(1, round(fields["anneal_steps"] * scale))
        for seed in range(grid.seeds):
            config = replace(grid.base, dataset=dataset, d_steps=d_steps, seed=seed,
                             **{"anneal_steps": grid.base.steps} | fields)  # fmt: skip
            runs.append((method, config))
    return runs


def with_defaults(stored: dict) -> dict:
    """A GANConfig as a sweep stored it, with the fields GANConfig gained since at their
    defaults: the same run as when it was stored."""
    return asdict(gan.GANConfig()) | stored


def train_block(population, path: Path, stop, advance) -> tuple[dict, dict] | None:
    """Train a block to its last step, from its checkpoint at path if there is one, saving
    it every CHECKPOINT_EVERY steps and when stopped. Returns (the trained state's arrays,
    the last record), or None when stopped. advance(n) is told of every step."""
    # the block's runs, so that a checkpoint of another grid's block is never read
    runs = [asdict(member) for member in population.members]
    stored = {"d_steps": population.base.d_steps, "runs": runs}
    start, state = 0, None
    if path.exists():
        start, arguments, arrays = checkpoint.load(path)
        stored_runs = [with_defaults(run) for run in arguments.get("runs", [])]
        if stored_runs != json.loads(json.dumps(runs)):
            raise checkpoint.CheckpointError(f"{path} is the checkpoint of another block")
        state = fast_gan.load_state(population, arrays, "cpu")
        advance(start)
    state = state or fast_gan.init_state(population, "cpu")
    steps, last = population.base.steps, None
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging GAN is a result here
        for step in range(start, steps):
            last, _ = fast_gan.train_step(population, state, step)
            advance(1)
            stopping = stop.signum is not None and step + 1 < steps
            if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < steps or stopping:
                checkpoint.save(path, step + 1, stored, fast_gan.state_arrays(state))
            if stopping:
                return None
    return fast_gan.state_arrays(state), last


def evaluate_block(runs, arrays: dict, last: dict, seconds: float) -> list[dict]:
    """One row per run of a block (RUN_COLUMNS). A run whose parameters or final losses are
    not finite diverged, and has no metrics; the others are evaluated together, as one
    population (fast/metrics.py: each run's metrics are those of run.py's single run)."""
    rows, finished = [], []
    for p, (method, config) in enumerate(runs):
        finals = float(last["loss_D"][p]), float(last["loss_G"][p])
        parameters = (arrays[name][p] for name in ("theta_G", "theta_D"))
        diverged = not (all(np.isfinite(theta).all() for theta in parameters)
                        and np.isfinite(finals).all())  # fmt: skip
        row = {name: value for name, value in asdict(config).items() if name in RUN_COLUMNS}
        row |= {"method": method, "final_loss_D": finals[0], "final_loss_G": finals[1],
                "diverged": diverged, "block_seconds": round(seconds, 1)}  # fmt: skip
        rows.append(row)
        finished += [] if diverged else [p]
    if finished:
        population = fast_gan.PopulationConfig(tuple(runs[p][1] for p in finished))
        results, _, _ = fast_metrics.evaluate_generator(population, arrays["theta_G"][finished])
        for p, result in zip(finished, results, strict=True):
            rows[p] |= {name: result[name] for name in (*METRICS, "modes_total")}
    for row in rows:
        row["collapsed"] = not row["diverged"] and row["modes_captured"] <= 1
    return rows


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial proportion (honest at 0 of 8 and 8 of 8,
    where the normal approximation collapses to a point)."""
    centre = (successes + WILSON_Z**2 / 2) / (n + WILSON_Z**2)
    half = WILSON_Z * math.sqrt(successes * (n - successes) / n + WILSON_Z**2 / 4)
    return centre - half / (n + WILSON_Z**2), centre + half / (n + WILSON_Z**2)


def summarise(rows: list[dict]) -> list[dict]:
    """One row per cell (dataset, d_steps, method) in the rows' order: runs, successes with
    their Wilson interval, diverged, collapsed, and mean and standard error of each metric
    over the runs that did not diverge."""
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["dataset"], int(row["d_steps"]), row["method"]), []).append(row)
    summary = []
    for (dataset, d_steps, method), group in cells.items():
        finished = [row for row in group if row["diverged"] in (False, "False")]
        every_mode = [int(row["modes_captured"]) == int(row["modes_total"]) for row in finished]
        low, high = wilson(sum(every_mode), len(group))
        cell = {"dataset": dataset, "d_steps": d_steps, "method": method, "runs": len(group),
                "success": sum(every_mode), "success_rate": sum(every_mode) / len(group),
                "success_low": low, "success_high": high, "diverged": len(group) - len(finished),
                "collapsed": sum(row["collapsed"] in (True, "True") for row in group)}  # fmt: skip
        for name in METRICS:
            values = np.array([float(row[name]) for row in finished])
            cell[f"{name}_mean"] = float(values.mean()) if len(values) else math.nan
            cell[f"{name}_se"] = (float(values.std(ddof=1) / math.sqrt(len(values)))
                                  if len(values) > 1 else math.nan)  # fmt: skip
        summary.append(cell)
    return summary


def markdown(summary: list[dict]) -> str:
    """summary.md: every cell's row, then the success counts alone as one line per block
    (dataset, D steps) and one column per method, the grid at a glance."""
    header = ("| dataset | D steps | method | all modes (95% CI) | modes | high quality | "
              "reverse KL | energy distance | diverged | collapsed |")  # fmt: skip
    lines = [header, "| --- " * 10 + "|"]
    for c in summary:
        lines.append(
            f"| {c['dataset']} | {c['d_steps']} | {c['method']} | {c['success']} of {c['runs']}"
            f" ({c['success_low']:.2f}-{c['success_high']:.2f}) | "
            + " | ".join(f"{c[n + '_mean']:.3g} ± {c[n + '_se']:.2g}" for n in METRICS)
            + f" | {c['diverged']} | {c['collapsed']} |"
        )
    methods = list(dict.fromkeys(c["method"] for c in summary))
    blocks = list(dict.fromkeys((c["dataset"], c["d_steps"]) for c in summary))
    success = {(c["dataset"], c["d_steps"], c["method"]): f"{c['success']}/{c['runs']}"
               for c in summary}  # fmt: skip
    lines += ["", "Runs covering every mode:", "",
              "| dataset | D steps | " + " | ".join(methods) + " |",
              "| --- " * (len(methods) + 2) + "|"]  # fmt: skip
    for dataset, d_steps in blocks:
        cells = (success.get((dataset, d_steps, method), "") for method in methods)
        lines.append(f"| {dataset} | {d_steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"python -m fast.sweep: error: {message.removeprefix('argument ')}\n")


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; exits with status 2, touching nothing, on a bad one or on a folder
    that holds another sweep."""
    parser = ArgumentParser(prog="python -m fast.sweep", description="Measure every method "
                            "of a grid over datasets, discriminator strengths and seeds; the "
                            "same command continues an interrupted sweep.")  # fmt: skip
    parser.add_argument("--grid", choices=tuple(GRIDS), default="small",
                        help="small: 2 datasets x 2 D strengths x 6 methods x 8 seeds; "
                        "full: 4 x 2 x 9 x 16; penalties: the small grid with R1 and Roth's "
                        "penalty as its 4 methods; tiny: seconds, for the tests")  # fmt: skip
    parser.add_argument("--out", type=Path, metavar="FOLDER",
                        help="where the sweep writes (default: runs/sweep-GRID)")  # fmt: skip
    args = parser.parse_args(argv)
    args.out = args.out or Path("runs") / f"sweep-{args.grid}"
    recorded = args.out / "sweep.json"
    if args.out.exists() and not recorded.exists():
        parser.error(f"--out: {str(args.out)!r} exists and holds no sweep")
    if recorded.exists():
        try:
            previous = json.loads(recorded.read_text())
            previous["grid"]["base"] = with_defaults(previous["grid"]["base"])
            same = previous["grid"] == json.loads(json.dumps(asdict(GRIDS[args.grid])))
        except (ValueError, KeyError, TypeError) as error:  # damaged, or not a sweep's
            parser.error(f"--out: {recorded} is not a readable sweep record ({error!r})")
        if not same:
            parser.error(f"--grid: the sweep in {str(args.out)!r} is another grid "
                         f"({previous['arguments']['grid']!r} as it was then); it cannot "
                         f"continue as {args.grid!r}")  # fmt: skip
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    grid, folder = GRIDS[args.grid], args.out
    folder.mkdir(parents=True, exist_ok=True)
    versions = {name: __import__(name).__version__ for name in ("numpy", "numba", "scipy")}
    record = {"arguments": {"grid": args.grid}, "grid": asdict(grid), "versions": versions}
    content = json.dumps(record, indent=2) + "\n"
    if not (folder / "sweep.json").exists():  # a continued sweep keeps its first record
        write_atomically(folder / "sweep.json", lambda path: path.write_text(content))
    blocks = [(dataset, d) for dataset in grid.datasets for d in grid.d_steps]
    rows = read_rows(folder / "runs.csv")
    done = {(row["dataset"], int(row["d_steps"])) for row in rows}
    for dataset, d_steps in done:  # a crash after writing a block's rows can leave its checkpoint
        (folder / f"block-{dataset}-d{d_steps}.npz").unlink(missing_ok=True)
    cost = {block: grid.base.steps * (block[1] + 1) for block in blocks}  # ~ work per GAN
    stop = checkpoint.StopRequest()
    try:
        with tqdm(total=sum(cost.values()), initial=sum(cost[b] for b in done), unit="",
                  bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}") as bar:  # fmt: skip
            for dataset, d_steps in blocks:
                bar.set_postfix_str(f"cells {len(done) * len(grid.methods)}/"
                                    f"{len(blocks) * len(grid.methods)}")  # fmt: skip
                if (dataset, d_steps) in done:
                    continue
                if stop.signum is not None:  # asked to stop while the last block ended
                    break
                runs = block_members(grid, dataset, d_steps)
                population = fast_gan.PopulationConfig(tuple(config for _, config in runs))
                path, started = folder / f"block-{dataset}-d{d_steps}.npz", time.perf_counter()
                try:
                    trained = train_block(population, path, stop,
                                          lambda n, d=d_steps: bar.update(n * (d + 1)))  # fmt: skip
                except checkpoint.CheckpointError as error:
                    print(f"python -m fast.sweep: error: {error}; remove it to train the "
                          "block afresh", file=sys.stderr)  # fmt: skip
                    return 2
                if trained is None:
                    break
                rows += evaluate_block(runs, *trained, time.perf_counter() - started)
                write_csv(folder / "runs.csv", RUN_COLUMNS, rows)
                path.unlink(missing_ok=True)  # its runs are in runs.csv now
                done.add((dataset, d_steps))
            bar.set_postfix_str(f"cells {len(done) * len(grid.methods)}/"
                                f"{len(blocks) * len(grid.methods)}")  # fmt: skip
    finally:
        stop.restore()
    if len(done) < len(blocks):  # stopped: said after the bar's last line
        print(f"python -m fast.sweep: interrupted; {len(done)} of {len(blocks)} blocks done, "
              f"the block in training checkpointed; continue with: python -m fast.sweep "
              f"--grid {args.grid} --out {folder}", file=sys.stderr)  # fmt: skip
        return 128 + stop.signum
    summary = summarise(rows)
    write_csv(folder / "summary.csv", tuple(summary[0]), summary)
    write_atomically(folder / "summary.md", lambda path: path.write_text(markdown(summary)))
    print(f"{len(rows)} runs in {len(summary)} cells; wrote {folder}/"
          "{runs.csv,summary.csv,summary.md}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
