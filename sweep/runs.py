"""runs.csv: a sweep's rows, read back and checked against its grid.

The sweep rewrites runs.csv whole (cli/files.py) as each block finishes, so a file it wrote
holds every run of each finished block exactly once, in the columns run_columns
(sweep/blocks.py: a grid of images has two more), each field str() of its value.
read_runs reads the file and checks all of that. What it finds otherwise is damage, of two
kinds:

- a block's: a run missing or repeated, a row cut short, a field that does not read back
  as the sweep writes it (an integer, a float, True or False) or is not the grid's run, a
  row that disagrees with itself (collapsed, the metrics of a run that diverged). The block
  is in Runs.damaged, with its first problem; the sweep trains it again, and its rows come
  back bit for bit (block_seconds aside).
- the file's: unreadable, not CSV, columns that are not the grid's, a row of no block of
  the grid. RunsFileError: the sweep touches nothing and says to move the file away.

Files written before the penalties lack their columns (ADDED_COLUMNS): their runs were made
without one, and are read with GANConfig's defaults; a column under an older name
(checkpoint.ALIASES) is read under this code's.
"""

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

from cli import checkpoint
from reference.config import GANConfig
from reference.metrics import IMAGE_METRICS
from sweep.blocks import RUN_COLUMNS, run_columns
from sweep.grids import Grid, block_members

Block = tuple[str, int]  # (dataset, d_steps)
ADDED_COLUMNS = ("penalty", "gamma")  # absent from the files of sweeps without penalties
# the GANConfig fields among the columns, each the grid's run's value, of its type
CONFIG_COLUMNS = tuple(name for name in asdict(GANConfig()) if name in RUN_COLUMNS)
# the metrics, empty in the row of a run that diverged
MEASURED = {"modes_captured": int, "modes_total": int, "high_quality_fraction": float,
            "reverse_kl": float, "energy_distance": float}  # fmt: skip
KIND_NAMES = {int: "an integer", float: "a number", bool: "True or False"}


class RunsFileError(ValueError):
    """runs.csv is damaged as a whole; the message names the file."""


@dataclass(frozen=True)
class Runs:
    rows: dict[Block, list[dict]]  # each whole block's rows, in block_members' order
    damaged: dict[Block, str]  # each damaged block: the first problem found in it


def as_written(row: dict, name: str, kind: type):
    """The value of kind (str, int, float or bool) whose str() is row[name], as the sweep
    writes it; ValueError naming the column otherwise."""
    text = row[name]
    if text is None:  # csv.DictReader's value for the columns a short row lacks
        raise ValueError(f"it has no {name}: the row is cut short")
    if kind is str:
        return text
    if kind is bool:
        value = {"True": True, "False": False}.get(text)
    else:
        try:
            value = kind(text)
        except ValueError:
            value = None
    if value is None or str(value) != text:
        raise ValueError(f"its {name} is {text!r}, not {KIND_NAMES[kind]} as the sweep writes one")
    return value


def check_row(row: dict, config: GANConfig, measured: dict) -> None:
    """ValueError naming the first field of row that is not what the sweep writes for the
    run of config; measured: its metrics' names and types."""
    if None in row:  # csv.DictReader's key for the fields beyond the header's
        raise ValueError("it has more fields than the header")
    expected = asdict(config)
    for name in CONFIG_COLUMNS:
        if as_written(row, name, type(expected[name])) != expected[name]:
            raise ValueError(f"its {name} is {row[name]!r}; the grid's run has {expected[name]!r}")
    diverged = as_written(row, "diverged", bool)
    for name, kind in measured.items():  # a run that diverged is not evaluated
        if diverged and row[name] != "":
            raise ValueError(f"it diverged, yet its {name} is {row[name]!r}")
        if not diverged:
            as_written(row, name, kind)
    for name in ("final_loss_D", "final_loss_G", "block_seconds"):
        as_written(row, name, float)
    collapsed = not diverged and int(row["modes_captured"]) <= 1
    if as_written(row, "collapsed", bool) != collapsed:
        raise ValueError(f"its collapsed is {row['collapsed']!r}, but its modes say {collapsed}")


def block_rows(lines: list[tuple[int, dict]], members, measured: dict) -> list[dict]:
    """A block's rows, each run's once, in the order of members (block_members), from its
    (line, row) pairs, measured as check_row's; ValueError naming the first problem."""
    runs = {(method, config.seed): config for method, config in members}
    found: dict[tuple[str, int], tuple[int, dict]] = {}
    for line, row in lines:
        try:
            run = as_written(row, "method", str), as_written(row, "seed", int)
            if run not in runs:
                raise ValueError(f"{run[0]!r}, seed {run[1]}, is no run of this block")
            if run in found:
                raise ValueError(f"it repeats line {found[run][0]}")
            check_row(row, runs[run], measured)
        except ValueError as error:
            raise ValueError(f"line {line}: {error}") from None
        found[run] = line, row
    missing = [run for run in runs if run not in found]
    if missing:
        raise ValueError(f"it lacks {len(missing)} of its {len(runs)} runs, the first "
                         f"{missing[0][0]!r}, seed {missing[0][1]}")  # fmt: skip
    return [found[run][1] for run in runs]


def read_runs(path: Path, grid: Grid) -> Runs:
    """The whole blocks of runs.csv at path and its damaged ones, checked against grid;
    RunsFileError if the file is damaged as a whole. No file: no rows."""
    if not path.exists():
        return Runs({}, {})
    try:
        with open(path, newline="") as file:
            text = file.read()
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        lines = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        reason = getattr(error, "strerror", None) or error
        raise RunsFileError(f"{path} cannot be read ({reason})") from None
    columns = list(checkpoint.upgrade(dict.fromkeys(header), {}))  # older names read as ours
    expected = run_columns(grid)
    absent = [name for name in expected if name not in columns]
    unknown = [name for name in columns if name not in expected]
    if len(columns) < len(header):  # a name twice, or under its older name too
        raise RunsFileError(f"{path}: its header names a column twice")
    if unknown or absent not in ([], list(ADDED_COLUMNS)):
        found = f"a column {unknown[0]!r}" if unknown else f"no column {absent[0]!r}"
        raise RunsFileError(f"{path}: its header is not a sweep's ({found})")
    defaults = {name: str(getattr(GANConfig(), name)) for name in absent}

    blocks = {(dataset, d): block_members(grid, dataset, d)
              for dataset in grid.datasets for d in grid.d_steps}  # fmt: skip
    # a file that ends inside its last row: the row may be cut anywhere, even in its block's
    # name, so it is dropped; its block lacks it, or holds it twice
    cut = lines.pop() if lines and not text.endswith("\n") else None
    by_block: dict[Block, list[tuple[int, dict]]] = {}
    for line, stored in lines:
        row = defaults | checkpoint.upgrade(stored, {})
        block = block_of(row)
        if block not in blocks:
            raise RunsFileError(f"{path}, line {line}: dataset {row.get('dataset')!r}, d_steps "
                                f"{row.get('d_steps')!r}, is no block of its grid")  # fmt: skip
        by_block.setdefault(block, []).append((line, row))
    rows, damaged = {}, {}
    measured = MEASURED | dict.fromkeys(IMAGE_METRICS * grid.images, float)
    for block, members in blocks.items():
        try:
            if cut is not None and block_of(cut[1]) == block:
                raise ValueError(f"line {cut[0]}: the file ends inside it")
            if block in by_block:
                rows[block] = block_rows(by_block[block], members, measured)
        except ValueError as error:
            damaged[block] = str(error)
    return Runs(rows, damaged)


def block_of(row: dict) -> Block | None:
    """(dataset, d_steps) of a row, or None if they are not as the sweep writes them."""
    try:
        return as_written(row, "dataset", str), as_written(row, "d_steps", int)
    except ValueError:
        return None
