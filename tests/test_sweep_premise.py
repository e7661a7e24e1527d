"""The premise's grids (sweep/grids.py): sigma scaled with the dimension, and a grid of
digits end to end, its image metrics in runs.csv checked and summarised."""

import csv
import json
import math

import pytest

import run
from reference.config import GANConfig
from sweep import blocks, grids, summary
from sweep.__main__ import main as sweep_main
from tests.sweeps import rows_of

TINY_BASE = GANConfig(dataset="digits", steps=30, batch=16, hidden=8)
TINY_DIGITS = grids.Grid(("digits",), (1,), ("no noise", "instance noise 0.1"), 2, TINY_BASE)


def test_the_dimension_grid_keeps_the_noise_norm_of_the_plane():
    grid = grids.GRIDS["dimension"]
    for dataset, dim in zip(grid.datasets, (2, 3, 8, 32, 128), strict=True):
        sigmas = {method: config.sigma0 for method, config in
                  grids.block_members(grid, dataset, 1)}  # fmt: skip
        # sigma sqrt(d) is sigma0 sqrt(2) in every d: 0.1 * sqrt(2 / d) * sqrt(d) rounds five
        # times, 0.1 * sqrt(2) twice, each by half an eps at most: 3.5 eps
        for method, at_2d in (("instance noise 0.1 sqrt(2/d)", 0.1),
                              ("annealed 0.2 sqrt(2/d) -> 0, linear", 0.2)):  # fmt: skip
            assert math.isclose(sigmas[method] * math.sqrt(dim), at_2d * math.sqrt(2),
                                rel_tol=4 * 2**-52)  # fmt: skip
        assert sigmas["no noise"] == 0.0
    first_noisy = grids.block_members(grid, "ring", 1)[grid.seeds]  # the second method's
    assert first_noisy[1].sigma0 == 0.1  # the plane's own


def test_a_grid_mixing_digits_and_toys_is_refused():
    with pytest.raises(ValueError, match="digits"):
        grids.Grid(("ring", "digits"), (1,), ("no noise",), seeds=1)


@pytest.fixture
def tiny_digits(monkeypatch):
    monkeypatch.setitem(grids.GRIDS, "tiny-digits", TINY_DIGITS)


def test_a_grid_of_digits_writes_and_summarises_its_image_metrics(tmp_path, tiny_digits):
    out = tmp_path / "sweep"
    assert sweep_main(["--grid", "tiny-digits", "--out", str(out)]) == 0
    rows = rows_of(out)
    assert len(rows) == 4 and list(rows[0])[-2:] == ["mean_confidence", "frechet_distance"]
    # the instance-noise run of seed 1, trained alone by run.py, has the same metrics
    row = next(r for r in rows if (r["method"], r["seed"]) == ("instance noise 0.1", "1"))
    alone = tmp_path / "alone"
    args = ["--dataset", "digits", "--sigma0", "0.1", "--seed", "1", "--steps", "30",
            "--batch", "16", "--hidden", "8", "--device", "cpu", "--out", str(alone)]  # fmt: skip
    assert run.main(args) == 0
    single = json.loads((alone / "metrics.json").read_text())
    for name in ("modes_captured", "reverse_kl", "mean_confidence", "frechet_distance"):
        assert float(row[name]) == single[name], name
    with open(out / "summary.csv", newline="") as file:
        assert "frechet_distance_mean" in next(csv.DictReader(file))
    assert "| all 10 digits (95% CI) | digits |" in (out / "summary.md").read_text()


def test_a_digits_row_with_a_damaged_image_metric_is_trained_again(tmp_path, tiny_digits, capsys):
    out = tmp_path / "sweep"
    assert sweep_main(["--grid", "tiny-digits", "--out", str(out)]) == 0
    before = rows_of(out)
    text = (out / "runs.csv").read_bytes().decode()
    fid = before[2]["frechet_distance"]
    damaged = text.replace(f",{fid}\r\n", ",not a number\r\n", 1)  # the last column
    assert damaged != text
    (out / "runs.csv").write_bytes(damaged.encode())
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny-digits", "--out", str(out)]) == 0
    assert "its frechet_distance is 'not a number'" in capsys.readouterr().err
    assert rows_of(out) == before


def test_a_digits_summary_with_a_diverged_first_run():
    # a diverged run's metrics are empty (in memory as in runs.csv): the cell is summarised
    # from the others, and the table has the image metrics' columns whatever comes first
    def row(seed: int, diverged: bool) -> dict:
        measured = dict.fromkeys((*blocks.run_metrics("digits"), "modes_total"), "")
        if not diverged:
            measured = {name: str(seed + 1) for name in measured} | {"modes_total": "10"}
        return {"dataset": "digits", "d_steps": "1", "method": "no noise", "seed": str(seed),
                "diverged": str(diverged), "collapsed": "False", **measured}  # fmt: skip

    metrics = blocks.run_metrics("digits")
    (cell,) = summary.summarise([row(0, True), row(1, False), row(2, False)], metrics)
    assert (cell["diverged"], cell["frechet_distance_mean"]) == (1, 2.5)
    header = summary.markdown([cell], metrics).splitlines()[0]
    assert header.endswith("| mean confidence | digits FID | diverged | collapsed |")
