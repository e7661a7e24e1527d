"""python -m sweep [--grid GRID] [--out FOLDER]: when does instance noise stabilise training?
Every method of a grid, over datasets, discriminator strengths and
seeds, measured with the same networks, optimiser and budget.

A grid's runs that share their network shapes and step (a dataset and a d_steps: a *block*)
train as one population of fast/gan.py, every method and seed a GAN of it, so one process
trains a whole block at once. Each run is the single run of run.py with its arguments, bit
for bit on the CPU. The sweep writes into --out:

    sweep.json    the sweep's arguments; running the same command again continues it, and
                  other arguments for the same folder are refused
    runs.csv      one row per run: its arguments, metrics, final losses, whether it diverged
                  (a non-finite loss) or collapsed (at most one mode), and the seconds
                  its block trained, summed over every process that worked on it
    summary.csv   one row per cell (dataset, d_steps, method): mean and standard error over
    summary.md    the seeds of each metric, the success rate (every mode covered, no
                  divergence) with its 95% Wilson interval, and the runs that diverged or
                  collapsed
    block-*.npz   the checkpoint of the block in training (cli/checkpoint.py's format,
                  with the block's runs among its arguments)
    .lock         held while a sweep writes there (cli/lock.py): a second one is refused

Ctrl-C or SIGTERM stops the sweep after the step in progress (said at once while the
kernels compile or a block is evaluated), a second at once. Interrupted at any point (a
signal, a crash), the same command continues where it stopped: finished blocks are kept
and never recomputed, the block in training resumes from its last checkpoint (a stop saves
the step it stopped at), and runs.csv is rewritten whole, atomically, as each block
finishes. runs.csv is checked against the grid before anything
is trained (sweep/runs.py): a damaged block is named and trained again, a file damaged as
a whole is refused. Every write is atomic, so a failed one (disk full, read-only) leaves
what was written before whole.

Exit statuses (cli/exits.py): 0 done; 2 bad arguments, --out in use by another sweep, or a
damaged runs.csv or checkpoint (nothing touched); 5 a write failed; 128 + N stopped by
signal N (130 Ctrl-C): the same command continues.
"""

import os
import signal
import sys

from cli import exits

try:  # Ctrl-C while NumPy and Numba load (seconds): one line and 130, no traceback
    import argparse
    import json
    import shlex
    from contextlib import ExitStack, contextmanager
    from dataclasses import asdict
    from pathlib import Path

    from tqdm import tqdm

    from cli import checkpoint
    from cli.files import left_before_record, remove_temporaries, write_atomically, write_csv
    from cli.lock import LOCK_NAME, FolderBusyError, FolderLock
    from cli.options import Once, quoted
    from cli.stop import StopRequest
    from fast import fused_step_cpu
    from fast import gan as fast_gan
    from reference import digits
    from sweep.blocks import (
        evaluate_block,
        run_columns,
        run_metrics,
        saved_block,
        stored_config,
        train_block,
    )
    from sweep.grids import GRIDS, block_members
    from sweep.runs import RunsFileError, read_runs
    from sweep.summary import markdown, summarise
except KeyboardInterrupt:
    if __name__ != "__main__":
        raise
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C changes nothing now
    print("python -m sweep: interrupted while starting; nothing written", file=sys.stderr)
    sys.exit(exits.SIGNAL + signal.SIGINT)


# said below the progress bar's line by a stop asked while a block is evaluated (seconds)
EVALUATING = "\npython -m sweep: stopping once this block is evaluated (Ctrl-C again stops at once)"


class SweepError(Exception):
    """What ends a sweep early, said in one line, with its exit status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@contextmanager
def writing(path: Path):
    """An OSError inside (disk full, read-only, permission) becomes a SweepError naming path
    and the error's meaning, exit status WRITE_FAILED. Every file is written atomically
    (cli/files.py), so what was written before stays whole."""
    try:
        yield
    except OSError as error:
        message = f"cannot write {path}: {error.strerror or error}"
        raise SweepError(message, exits.WRITE_FAILED) from None


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        message = message.removeprefix("argument ")  # the option's name alone reads better
        self.exit(exits.BAD_ARGUMENTS, f"python -m sweep: error: {message}\n")


def record_problem(folder: Path, grid: str) -> str | None:
    """Why folder's sweep.json is not the record of grid's sweep; None if it is, or if
    there is none."""
    recorded = folder / "sweep.json"
    if not recorded.exists():
        return None
    try:
        previous = json.loads(recorded.read_text())
        previous["grid"]["base"] = stored_config(previous["grid"]["base"])
        same = previous["grid"] == json.loads(json.dumps(asdict(GRIDS[grid])))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # not a sweep's
        return f"--out: {recorded} is not a readable sweep record ({error!r})"
    if same:
        return None
    arguments = previous.get("arguments")
    named = arguments.get("grid") if isinstance(arguments, dict) else None
    then = f"{named!r} as it was then" if isinstance(named, str) else "its record names none"
    return (f"--grid: the sweep in {str(folder)!r} is another grid ({then}); it cannot "
            f"continue as {grid!r}")  # fmt: skip


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; exits with status 2, touching nothing, on a bad one or on a folder
    that holds another sweep."""
    parser = ArgumentParser(prog="python -m sweep", description="Measure every method "
                            "of a grid over datasets, discriminator strengths and seeds; the "
                            "same command continues an interrupted sweep.", epilog="exit "
                            "status: 0 done; 2 a bad argument, FOLDER in use by another "
                            "sweep, or a damaged runs.csv or block checkpoint (nothing "
                            "touched); 5 a write failed (disk full, read-only: what was "
                            "written before stays whole); 128 + N stopped by signal N (130: "
                            "Ctrl-C), and the same command continues")  # fmt: skip
    parser.add_argument("--grid", choices=tuple(GRIDS), action=Once,
                        help="small (the default): 2 datasets x 2 D strengths x 6 methods "
                        "x 8 seeds; full: 4 x 2 x 9 x 16; penalties: the small grid with R1 "
                        "and Roth's penalty as its 4 methods; dimension: the ring in 2, 3, "
                        "8, 32, 128 dimensions x 2 x 5 x 8, 6000 steps of batch 128, sigma "
                        "scaled by sqrt(2/d); digits: "
                        "the 8x8 digits x 2 x 5 x 8, the same budget; grid-long: the 5x5 grid "
                        "x 1 x 5 x 8 at 20000 steps; tiny: seconds, for the tests; "
                        "tiny-dimension: seconds, figure 10's first look")  # fmt: skip
    parser.add_argument("--out", type=Path, metavar="FOLDER", action=Once,
                        help="where the sweep writes (default: runs/sweep-GRID)")  # fmt: skip
    args = parser.parse_args(argv)
    args.grid = args.grid or "small"
    args.out = args.out or Path("runs") / f"sweep-{args.grid}"
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out: {str(args.out)!r} is not a folder")
    if args.out.is_dir() and not (args.out / "sweep.json").exists():
        try:  # a sweep stopped before its record leaves its lock and temporaries alone
            ours = not any(args.out.iterdir()) or left_before_record(args.out)
        except OSError as error:
            parser.error(f"--out: {str(args.out)!r} cannot be read ({error.strerror})")
        if not ours:
            parser.error(f"--out: {str(args.out)!r} exists and holds no sweep")
    problem = record_problem(args.out, args.grid)
    if problem:
        parser.error(problem)
    return args


def block_checkpoint(folder: Path, dataset: str, d_steps: int) -> Path:
    return folder / f"block-{dataset}-d{d_steps}.npz"


def sweep(args: argparse.Namespace, stop: StopRequest) -> int:
    """Train the blocks of the grid that runs.csv lacks, then summarise; the exit status.
    The caller holds the folder's lock."""
    grid, folder = GRIDS[args.grid], args.out
    problem = record_problem(folder, args.grid)  # again, now that no other sweep writes here
    if problem:
        raise SweepError(problem, exits.BAD_ARGUMENTS)
    if grid.images:  # the classifier scores every block: checked before any trains
        try:
            digits.classifier()
        except digits.ClassifierError as error:
            raise SweepError(str(error), exits.BAD_ARGUMENTS) from None
    versions = {name: __import__(name).__version__ for name in ("numpy", "numba", "scipy")}
    record = {"arguments": {"grid": args.grid}, "grid": asdict(grid), "versions": versions}
    content = json.dumps(record, indent=2) + "\n"
    if not (folder / "sweep.json").exists():  # a continued sweep keeps its first record
        with writing(folder / "sweep.json"):
            write_atomically(folder / "sweep.json", lambda path: path.write_text(content))
    blocks = [(dataset, d) for dataset in grid.datasets for d in grid.d_steps]
    runs_csv = folder / "runs.csv"
    try:
        runs = read_runs(runs_csv, grid)
    except RunsFileError as error:
        raise SweepError(f"{error}; move it away, and the same command trains every block "
                         "afresh", exits.BAD_ARGUMENTS) from None  # fmt: skip
    for (dataset, d_steps), damage in runs.damaged.items():
        print(f"python -m sweep: {runs_csv}: block {dataset}, d_steps {d_steps}, is damaged "
              f"({damage}); training it again", file=sys.stderr)  # fmt: skip
    rows = runs.rows  # (dataset, d_steps) -> the block's rows

    def in_grid_order() -> list[dict]:
        return [row for block in blocks for row in rows.get(block, [])]

    def population_of(members: list) -> fast_gan.PopulationConfig:
        return fast_gan.PopulationConfig(tuple(config for _, config in members))

    for block in blocks:  # every checkpoint checked before any block trains
        path = block_checkpoint(folder, *block)
        if block not in rows and path.exists():
            try:
                saved_block(population_of(block_members(grid, *block)), path)
            except checkpoint.CheckpointError as error:
                raise SweepError(f"{error}; remove it to train the block afresh",
                                 exits.BAD_ARGUMENTS) from None  # fmt: skip
    with writing(folder):
        remove_temporaries(folder)  # a killed write's, as only a sweep writes here
    for dataset, d_steps in rows:  # a crash after writing a block's rows can leave its checkpoint
        path = block_checkpoint(folder, dataset, d_steps)
        with writing(path):
            path.unlink(missing_ok=True)
    waiting = [block for block in blocks if block not in rows]
    if waiting and not fused_step_cpu.compiled(population_of(block_members(grid, *waiting[0]))):
        print("compiling the fast kernels (first run only: some seconds)...", file=sys.stderr)
    cost = {block: grid.base.steps * (block[1] + 1) for block in blocks}  # ~ work per GAN
    trained, stopped_in = 0, None
    with tqdm(total=sum(cost.values()), initial=sum(cost[b] for b in rows), unit="",
              bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}") as bar:  # fmt: skip
        for dataset, d_steps in blocks:
            bar.set_postfix_str(f"cells {len(rows) * len(grid.methods)}/"
                                f"{len(blocks) * len(grid.methods)}")  # fmt: skip
            if (dataset, d_steps) in rows:
                continue
            if stop.signum is not None:  # asked to stop between two blocks
                break
            members = block_members(grid, dataset, d_steps)
            population = population_of(members)
            path = block_checkpoint(folder, dataset, d_steps)
            try:
                with writing(path):
                    result = train_block(population, path, stop,
                                         lambda n, d=d_steps: bar.update(n * (d + 1)))  # fmt: skip
            except checkpoint.CheckpointError as error:
                raise SweepError(f"{error}; remove it to train the block afresh",
                                 exits.BAD_ARGUMENTS) from None  # fmt: skip
            if result is None:
                stopped_in = dataset, d_steps
                break
            stop.notice = EVALUATING
            rows[dataset, d_steps] = evaluate_block(members, *result)
            with writing(runs_csv):
                write_csv(runs_csv, run_columns(grid), in_grid_order())
            stop.notice = None
            with writing(path):
                path.unlink(missing_ok=True)  # its runs are in runs.csv now
            trained += 1
        bar.set_postfix_str(f"cells {len(rows) * len(grid.methods)}/"
                            f"{len(blocks) * len(grid.methods)}")  # fmt: skip
    if len(rows) < len(blocks):  # stopped: said after the bar's last line
        where = ""
        if stopped_in is not None:
            where = f"; block {stopped_in[0]}, d_steps {stopped_in[1]}, checkpointed"
        print(f"python -m sweep: interrupted; {len(rows)} of {len(blocks)} blocks done{where}; "
              f"continue with: {continuing(args)}", file=sys.stderr)  # fmt: skip
        return exits.SIGNAL + stop.signum
    metrics = run_metrics(grid.datasets[0])
    summary = summarise(in_grid_order(), metrics)
    with writing(folder / "summary.csv"):
        write_csv(folder / "summary.csv", tuple(summary[0]), summary)
    with writing(folder / "summary.md"):
        write_atomically(
            folder / "summary.md", lambda path: path.write_text(markdown(summary, metrics))
        )
    said = f"{len(in_grid_order())} runs in {len(summary)} cells; wrote {folder}/"
    if trained:
        print(said + "{runs.csv,summary.csv,summary.md}")
    else:
        print("nothing to train: every block was done; " + said + "{summary.csv,summary.md}")
    if stop.signum is not None:  # asked to stop when nothing was left to stop: all is written
        print("python -m sweep: interrupted as it ended; the sweep is whole", file=sys.stderr)
        return exits.SIGNAL + stop.signum
    return exits.OK


def continuing(args: argparse.Namespace) -> str:
    """The command that continues the sweep of args, as a shell reads it."""
    return f"python -m sweep --grid {shlex.quote(args.grid)} --out {quoted(args.out)}"


def main(argv: list[str] | None = None) -> int:
    args = None  # the parsed arguments, once they are

    def at_once(signum: int) -> None:  # a second signal: its line, and out (cli/stop.py)
        hint = f"; continue with: {continuing(args)}" if args else ""
        os.write(2, f"\npython -m sweep: stopped at once{hint}\n".encode())
        FolderLock.before_exit()
        os._exit(exits.SIGNAL + signum)

    # from here on, Ctrl-C and SIGTERM ask the sweep to stop between steps, a second at once
    stop = StopRequest(at_once)
    try:
        args = parse(sys.argv[1:] if argv is None else argv)
        with writing(args.out):
            args.out.mkdir(parents=True, exist_ok=True)
        with ExitStack() as held:
            with writing(args.out / LOCK_NAME):
                held.enter_context(FolderLock(args.out))
            return sweep(args, stop)
    except (SweepError, FolderBusyError) as error:  # said after the bar's last line
        print(f"python -m sweep: error: {error}", file=sys.stderr)
        return error.status if isinstance(error, SweepError) else exits.BAD_ARGUMENTS
    except OSError as error:  # one no write names: the lock's release in a folder gone read-only
        print(f"python -m sweep: error: cannot write {error.filename}: {error.strerror}",
              file=sys.stderr)  # fmt: skip
        return exits.WRITE_FAILED
    finally:
        stop.restore()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # in the instants before main listens for Ctrl-C, or after
        sys.exit(exits.SIGNAL + signal.SIGINT)
