"""python -m sweep [--grid small|full|penalties|tiny] [--out FOLDER]: when does instance noise
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
    block-*.npz   the checkpoint of the block in training (cli/checkpoint.py's format,
                  with the block's runs among its arguments)

Interrupted at any point (Ctrl-C, SIGTERM, a crash), the same command continues where it
stopped: finished blocks are kept and never recomputed, the block in training resumes from
its last checkpoint, and runs.csv is rewritten whole, atomically, as each block finishes.
"""

import argparse
import csv
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from cli import checkpoint, exits
from cli.files import write_atomically, write_csv
from cli.stop import StopRequest
from fast import gan as fast_gan
from sweep.blocks import RUN_COLUMNS, evaluate_block, stored_config, train_block
from sweep.grids import GRIDS, block_members
from sweep.summary import markdown, summarise


def read_rows(path: Path) -> list[dict]:
    """runs.csv's rows, each column under the name RUN_COLUMNS gives it (checkpoint.upgrade)."""
    if not path.exists():
        return []
    with open(path, newline="") as file:
        return [checkpoint.upgrade(row, {}) for row in csv.DictReader(file)]


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        message = message.removeprefix("argument ")  # the option's name alone reads better
        self.exit(exits.BAD_ARGUMENTS, f"python -m sweep: error: {message}\n")


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; exits with status 2, touching nothing, on a bad one or on a folder
    that holds another sweep."""
    parser = ArgumentParser(prog="python -m sweep", description="Measure every method "
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
            previous["grid"]["base"] = stored_config(previous["grid"]["base"])
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
    stop = StopRequest()
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
                    print(f"python -m sweep: error: {error}; remove it to train the "
                          "block afresh", file=sys.stderr)  # fmt: skip
                    return exits.BAD_ARGUMENTS
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
        print(f"python -m sweep: interrupted; {len(done)} of {len(blocks)} blocks done, "
              f"the block in training checkpointed; continue with: python -m sweep "
              f"--grid {args.grid} --out {folder}", file=sys.stderr)  # fmt: skip
        return exits.SIGNAL + stop.signum
    summary = summarise(rows)
    write_csv(folder / "summary.csv", tuple(summary[0]), summary)
    write_atomically(folder / "summary.md", lambda path: path.write_text(markdown(summary)))
    print(f"{len(rows)} runs in {len(summary)} cells; wrote {folder}/"
          "{runs.csv,summary.csv,summary.md}")  # fmt: skip
    return exits.OK


if __name__ == "__main__":
    sys.exit(main())
