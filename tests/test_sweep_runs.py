"""sweep/runs.py: runs.csv is checked against the grid before a sweep trusts it. A damaged
block (a row missing, repeated, cut short, a field not as the sweep writes it or not the
grid's run) is named in one line and trained again, to the rows it had; a file damaged as
a whole is refused with one line, exit 2, touching nothing; the committed sweeps are whole."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from cli import exits
from sweep import grids
from sweep.__main__ import main as sweep_main
from sweep.__main__ import parse as sweep_parse
from sweep.runs import read_runs
from tests.sweeps import files_of, rows_of

REPO = Path(__file__).resolve().parent.parent
TINY = grids.GRIDS["tiny"]
RUNS = len(TINY.datasets) * len(TINY.d_steps) * len(TINY.methods) * TINY.seeds


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The tiny grid, swept whole once for the module (seconds)."""
    folder = tmp_path_factory.mktemp("finished") / "sweep"
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == 0
    return folder


def edited(finished: Path, to: Path, edit) -> Path:
    """A copy of the finished sweep whose runs.csv lines (header first, CSV's \\r\\n
    endings) edit(lines) changed."""
    folder = shutil.copytree(finished, to)
    lines = (folder / "runs.csv").read_bytes().decode().split("\r\n")
    (folder / "runs.csv").write_bytes("\r\n".join(edit(lines)).encode())
    return folder


def field(lines: list[str], line: int, name: str, value: str) -> list[str]:
    """lines with the field name of line set to value."""
    fields = next(csv.reader([lines[line]]))
    fields[next(csv.reader([lines[0]])).index(name)] = value
    text = io.StringIO()
    csv.writer(text, lineterminator="").writerow(fields)
    return [*lines[:line], text.getvalue(), *lines[line + 1 :]]


# The first block (ring, 1 D step) holds lines 1-10 of runs.csv: method by method, seed by
# seed; line 1 is "no noise", seed 0, which neither diverged nor collapsed.
DAMAGED_BLOCK = {
    "three rows deleted": lambda lines: lines[:4] + lines[7:],
    "a row repeated": lambda lines: lines[:4] + lines[3:],
    "two rows repeated": lambda lines: lines[:11] + lines[1:3] + lines[11:],
    "a row cut mid-line": lambda lines: [*lines[:2], lines[2][:40], *lines[3:]],
    "a row without its last field": lambda lines: [
        *lines[:2],
        lines[2][: lines[2].rindex(",")],
        *lines[3:],
    ],
    "a time cut short": lambda lines: field(lines, 1, "block_seconds", "1"),
    "a non-integer seed": lambda lines: field(lines, 1, "seed", "zero"),
    "an integer written otherwise": lambda lines: field(lines, 1, "modes_captured", "2.0"),
    "a float written otherwise": lambda lines: field(lines, 1, "reverse_kl", "1e0"),
    "a boolean written otherwise": lambda lines: field(lines, 1, "diverged", "false"),
    "a field not the grid's run": lambda lines: field(lines, 1, "sigma0", "0.3"),
    "a seed not the grid's": lambda lines: field(lines, 1, "seed", "7"),
    "a diverged run with metrics": lambda lines: field(lines, 1, "diverged", "True"),
    "collapsed against its modes": lambda lines: field(lines, 1, "collapsed", "True"),
    "a field too many": lambda lines: [*lines[:1], lines[1] + ",1", *lines[2:]],
}


@pytest.mark.parametrize("case", DAMAGED_BLOCK)
def test_a_damaged_block_is_named_in_one_line_and_trained_again(finished, tmp_path, capsys,
                                                                 case):  # fmt: skip
    folder = edited(finished, tmp_path / "sweep", DAMAGED_BLOCK[case])
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK
    out, err = capsys.readouterr()
    said = [line for line in err.splitlines() if line.startswith("python -m sweep")]
    assert len(said) == 1, err
    assert said[0].startswith(f"python -m sweep: {folder / 'runs.csv'}: block ring, "
                              "d_steps 1, is damaged (")  # fmt: skip
    assert said[0].endswith("; training it again")
    assert out.startswith(f"{RUNS} runs in {RUNS // TINY.seeds} cells; ")
    assert rows_of(folder) == rows_of(finished)
    assert (folder / "summary.md").read_bytes() == (finished / "summary.md").read_bytes()
    # only the damaged block was trained again: the others keep their time
    with open(finished / "runs.csv") as before, open(folder / "runs.csv") as after:
        assert before.readlines()[11:] == after.readlines()[11:]


@pytest.mark.parametrize("keep", [2, 60, -1])
def test_a_file_that_ends_inside_its_last_row_damages_its_block(finished, tmp_path, capsys,
                                                               keep):  # fmt: skip
    # any field of that row may be a prefix of the one written, even its block's name
    folder = edited(finished, tmp_path / "sweep", lambda lines: [*lines[:-2], lines[-2][:keep]])
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK
    said = f"{folder / 'runs.csv'}: block circle, d_steps 2, is damaged ("
    assert said in capsys.readouterr().err
    assert rows_of(folder) == rows_of(finished)


DAMAGED_FILE = {
    "a renamed column": lambda lines: [lines[0].replace("sigma0", "sigma"), *lines[1:]],
    "a column twice": lambda lines: [lines[0].replace("gamma", "sigma0"), *lines[1:]],
    "a column missing": lambda lines: [line.rpartition(",")[0] for line in lines],
    "no header": lambda lines: lines[1:],
    "an empty file": lambda lines: [""],
    "a row of no block": lambda lines: [*lines[:3], "moon" + lines[3][4:], *lines[4:]],
    "a non-integer d_steps": lambda lines: field(lines, 3, "d_steps", "one"),
    "a row cut before its block": lambda lines: [*lines[:3], "ring", *lines[3:]],
}


@pytest.mark.parametrize("case", [*DAMAGED_FILE, "not text"])
def test_a_runs_file_damaged_as_a_whole_is_refused_in_one_line_touching_nothing(
    finished, tmp_path, capsys, case
):
    folder = edited(finished, tmp_path / "sweep", DAMAGED_FILE.get(case, lambda lines: lines))
    if case == "not text":
        (folder / "runs.csv").write_bytes(b"\xff\xfe" + (folder / "runs.csv").read_bytes())
    before = files_of(folder)
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.BAD_ARGUMENTS
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"python -m sweep: error: {folder / 'runs.csv'}")
    assert err.rstrip().endswith("move it away, and the same command trains every block afresh")
    assert files_of(folder) == before


def test_columns_under_older_names_are_read_under_their_own(finished, tmp_path, capsys):
    # runs.csv may name real_target label_smoothing (checkpoint.ALIASES); nothing is damaged
    folder = edited(finished, tmp_path / "sweep",
                    lambda lines: [lines[0].replace("real_target", "label_smoothing"),
                                   *lines[1:]])  # fmt: skip
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK
    out, err = capsys.readouterr()
    assert "python -m sweep" not in err
    assert out.startswith("nothing to train: every block was done; ")


@pytest.mark.parametrize("grid", ["small", "full", "penalties"])
def test_every_committed_sweep_is_whole_by_its_grid(grid):
    # its runs.csv holds every run of every block once, each field as the sweep writes it
    # (the small and full grids' files predate the penalties' columns), and its record is
    # its grid's: the README's command for it continues it and trains nothing
    folder = REPO / "docs" / f"sweep-{grid}"
    runs = read_runs(folder / "runs.csv", grids.GRIDS[grid])
    assert runs.damaged == {}
    blocks = [(dataset, d) for dataset in grids.GRIDS[grid].datasets
              for d in grids.GRIDS[grid].d_steps]  # fmt: skip
    assert list(runs.rows) == blocks
    records = len((folder / "runs.csv").read_text().splitlines()) - 1
    assert sum(len(rows) for rows in runs.rows.values()) == records
    assert records == len(blocks) * len(grids.GRIDS[grid].methods) * grids.GRIDS[grid].seeds
    assert sweep_parse(["--grid", grid, "--out", str(folder)]).out == folder


def test_a_record_without_its_arguments_is_read_by_its_grid(finished, tmp_path, capsys):
    folder = shutil.copytree(finished, tmp_path / "sweep")
    record = json.loads((folder / "sweep.json").read_text())
    del record["arguments"]
    (folder / "sweep.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK  # the same grid
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:  # another grid: named as the record can
        sweep_main(["--grid", "small", "--out", str(folder)])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    err = capsys.readouterr().err
    assert err == (f"python -m sweep: error: --grid: the sweep in {str(folder)!r} is another "
                   "grid (its record names none); it cannot continue as 'small'\n")  # fmt: skip
