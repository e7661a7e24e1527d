"""sweep/__main__.py: a tiny grid end to end, each of its runs the single run of run.py with
the same arguments; a sweep interrupted by a real SIGINT and continued by the same command
ends with exactly the rows of an uninterrupted one; bad arguments exit 2 with one line,
touching nothing."""

import csv
import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import run
from cli import exits
from sweep import grids
from sweep.__main__ import main as sweep_main
from sweep.__main__ import parse as sweep_parse
from sweep.blocks import METRICS

REPO = Path(__file__).resolve().parent.parent
TINY = grids.GRIDS["tiny"]


def rows_of(folder: Path) -> list[dict]:
    """runs.csv without the one column that is a measurement of time, not of the run."""
    with open(folder / "runs.csv", newline="") as file:
        return [{k: v for k, v in row.items() if k != "block_seconds"}
                for row in csv.DictReader(file)]  # fmt: skip


def test_a_tiny_grid_runs_end_to_end_and_each_run_is_its_single_run(tmp_path):
    assert sweep_main(["--grid", "tiny", "--out", str(tmp_path / "sweep")]) == 0
    rows = rows_of(tmp_path / "sweep")
    cells = len(TINY.datasets) * len(TINY.d_steps) * len(TINY.methods)
    assert len(rows) == cells * TINY.seeds
    with open(tmp_path / "sweep" / "summary.csv", newline="") as file:
        summary = list(csv.DictReader(file))
    assert len(summary) == cells and all(int(c["runs"]) == TINY.seeds for c in summary)
    blocks = len(TINY.datasets) * len(TINY.d_steps)
    # the cells' table (header, rule, a row each), then the blocks' (a title between blank
    # lines, a blank line, header, rule, a row each)
    lines = (tmp_path / "sweep" / "summary.md").read_text().splitlines()
    assert len(lines) == (cells + 2) + 5 + blocks
    assert lines[-blocks:][0].startswith("| ring | 1 | ") and lines[-1].count("/2") == len(
        TINY.methods
    )
    # The label-flip run of seed 1 on the circle with 2 D steps, trained alone by run.py:
    row = next(r for r in rows if (r["dataset"], r["d_steps"], r["method"], r["seed"])
               == ("circle", "2", "label flip 0.1", "1"))  # fmt: skip
    alone = tmp_path / "alone"
    args = ["--dataset", "circle", "--d-steps", "2", "--label-flip", "0.1", "--seed", "1",
            "--steps", "400", "--batch", "32", "--hidden", "16", "--device", "cpu"]  # fmt: skip
    assert run.main([*args, "--out", str(alone)]) == 0
    single = json.loads((alone / "metrics.json").read_text())
    for name in (*METRICS, "final_loss_D", "final_loss_G"):
        assert float(row[name]) == single[name], name


def test_an_interrupted_sweep_continues_to_the_uninterrupted_rows(tmp_path):
    stopped = tmp_path / "stopped"
    process = subprocess.Popen(
        [sys.executable, "-m", "sweep", "--grid", "tiny", "--out", str(stopped)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # A cold Numba cache compiles the step first (about 20 s here, several times that on a
    # loaded machine): the deadline only keeps a broken sweep from hanging the suite.
    deadline = time.monotonic() + 600
    while not (stopped / "runs.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # the first block is done: stop in the middle of the second
    assert (stopped / "runs.csv").exists(), "the sweep's first block did not finish in 600 s"
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert stderr.strip().splitlines()[-1].startswith("python -m sweep: interrupted; ")
    assert "Traceback" not in stderr
    assert len(rows_of(stopped)) < len(TINY.datasets) * len(TINY.d_steps) * len(
        TINY.methods) * TINY.seeds  # fmt: skip
    assert sweep_main(["--grid", "tiny", "--out", str(stopped)]) == 0
    whole = tmp_path / "whole"
    assert sweep_main(["--grid", "tiny", "--out", str(whole)]) == 0
    assert rows_of(stopped) == rows_of(whole)
    assert not list(stopped.glob("block-*.npz"))


@pytest.mark.parametrize(
    "case", ["unknown grid", "another grid", "a changed grid", "a damaged record", "not a sweep"]
)
def test_bad_arguments_exit_2_with_one_line_and_touch_nothing(tmp_path, capsys, case):
    folder = tmp_path / "sweep"
    folder.mkdir()
    if case == "another grid":
        (folder / "sweep.json").write_text(json.dumps({"arguments": {"grid": "small"}}))
    elif case == "a changed grid":  # the tiny grid as it was with one seed fewer
        grid = json.loads(json.dumps(dataclasses.asdict(TINY))) | {"seeds": TINY.seeds - 1}
        (folder / "sweep.json").write_text(json.dumps({"arguments": {"grid": "tiny"},
                                                       "grid": grid}))  # fmt: skip
    elif case == "a damaged record":
        (folder / "sweep.json").write_text('{"arguments": ')
    elif case == "not a sweep":
        (folder / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    grid = "huge" if case == "unknown grid" else "tiny"
    with pytest.raises(SystemExit) as exit_info:
        sweep_main(["--grid", grid, "--out", str(folder)])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("python -m sweep: error: ")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_a_sweep_record_naming_a_field_by_its_alias_is_the_same_grid(tmp_path):
    # sweep.json may store real_target as label_smoothing (checkpoint.ALIASES)
    folder = tmp_path / "sweep"
    folder.mkdir()
    grid = json.loads(json.dumps(dataclasses.asdict(TINY)))
    grid["base"]["label_smoothing"] = grid["base"].pop("real_target")
    (folder / "sweep.json").write_text(json.dumps({"arguments": {"grid": "tiny"}, "grid": grid}))
    assert sweep_parse(["--grid", "tiny", "--out", str(folder)]).out == folder
