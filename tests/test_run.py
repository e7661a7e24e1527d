"""run.py end to end on a tiny budget, its bad-input behaviour, and a non-finite loss."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import run
from cli import exits, options
from fast import device as fast_device
from reference import data, gan, metrics
from reference.config import HIDDEN_LAYERS, GANConfig
from tests.tolerance import assert_close, float32_tolerance

REPO = Path(__file__).resolve().parent.parent
TINY = ["--steps", "12", "--batch", "16", "--hidden", "8", "--latent", "2", "--log-every", "5"]
OUTPUTS = {"samples.png", "metrics.json", "history.csv", "checkpoint.npz", "run.json"}


def read_history(folder: Path) -> list[dict]:
    with open(folder / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """python run.py args, as a user would type it, from the repository root."""
    return subprocess.run(
        [sys.executable, "run.py", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_cli_end_to_end(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--sigma0", "0.1", "--anneal", "linear", "--seed", "3", "--out", str(out)]
    done = run_cli(*args, "--backend", "reference")
    assert done.returncode == 0, done.stderr
    assert "modes covered" in done.stdout and "final losses" in done.stdout
    assert {path.name for path in out.iterdir()} == OUTPUTS
    assert (out / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "metrics.json").read_text())
    for key in ("modes_captured", "modes_total", "high_quality_fraction", "reverse_kl"):
        assert key in summary
    assert summary["seed"] == 3 and summary["arguments"]["anneal_steps"] == 12
    assert {"python", "numpy", "numba", "matplotlib", "platform"} <= set(summary["versions"])
    # The logged rows are the records of the same run of the reference training loop.
    config = GANConfig(**summary["config"])
    expected = [r for r in gan.train(config, gan.init_state(config)) if r["step"] in (0, 5, 10, 11)]
    history = read_history(out)
    assert [int(row["step"]) for row in history] == [0, 5, 10, 11]
    for row, record in zip(history, expected, strict=True):
        for name in run.HISTORY_COLUMNS:
            # csv writes repr(float), which round-trips exactly.
            assert float(row[name]) == record[name], name
    assert summary["final_loss_G"] == expected[-1]["loss_G"]


@pytest.mark.parametrize("name", [name for name in data.TOYS if name != "ring"])
def test_every_dataset_runs_and_plots(tmp_path, name):
    out = tmp_path / name
    assert run.main([*TINY, "--dataset", name, "--sigma0", "0.2", "--out", str(out)]) == 0
    assert {path.name for path in out.iterdir()} == OUTPUTS
    summary = json.loads((out / "metrics.json").read_text())
    distribution = data.get_dataset(name)
    modes = (
        metrics.CIRCLE_ARCS if isinstance(distribution, data.Circle) else len(distribution.weights)
    )
    assert summary["modes_total"] == modes
    assert 0.0 <= summary["high_quality_fraction"] <= 1.0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--sigma0", "-1"),
        ("--sigma0", "nan"),
        ("--sigma0", "inf"),
        ("--steps", "0"),
        ("--batch", "0"),
        ("--batch", "2.5"),
        ("--dataset", "moons"),
        ("--anneal", "cosine"),
        ("--label-flip", "1.5"),
        ("--real-target", "0"),
        ("--lr", "0"),
        ("--seed", "-1"),
        ("--sigma0", "0.1,,0.2"),
        ("--sigma0", "0.1,-1"),
        ("--population", "0"),
        ("--population", "-3"),
        ("--anneal-steps", "0"),
        ("--population", str(2**20 + 1)),
        ("--steps", str(metrics.EVAL_STEP + 1)),
        ("--generator-loss", "wasserstein"),
        ("--device", "tpu"),
        ("--backend", "torch"),
        ("--penalty", "wgan-gp"),
        ("--gamma", "0.1"),  # a weight without a penalty
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, option, value):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run.main([*TINY, option, value, "--out", str(out)])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("run.py: error: ")
    assert option in stderr and value in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["exists", "under a file"])
def test_bad_out_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    (tmp_path / "existing").mkdir()
    (tmp_path / "a_file").write_text("")
    out = tmp_path / ("existing" if case == "exists" else "a_file/run")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SystemExit) as exit_info:
        run.main([*TINY, "--out", str(out)])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "--out" in stderr and str(out) in stderr
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_bad_input_has_no_traceback(tmp_path):
    done = run_cli("--sigma0", "nan", "--out", str(tmp_path / "run"))
    assert done.returncode == exits.BAD_ARGUMENTS
    assert done.stderr == "run.py: error: --sigma0: expected a finite number >= 0, got nan\n"
    assert list(tmp_path.iterdir()) == []


def test_non_finite_loss_stops_keeps_history_and_names_the_step(tmp_path, capsys, monkeypatch):
    failing_step = 7
    train_step = gan.train_step

    def train_step_failing_at_7(config, state, step):
        record, intermediates = train_step(config, state, step)
        if step == failing_step:
            record["loss_G"] = np.nan
        return record, intermediates

    monkeypatch.setattr(gan, "train_step", train_step_failing_at_7)
    out = tmp_path / "run"
    assert run.main([*TINY, "--backend", "reference", "--out", str(out)]) == exits.NON_FINITE
    stderr = capsys.readouterr().err.splitlines()
    assert f"non-finite loss at step {failing_step}" in stderr[-1]
    assert {path.name for path in out.iterdir()} == {"metrics.json", "history.csv", "run.json"}
    assert [int(row["step"]) for row in read_history(out)] == [0, 5, failing_step]
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["failed_step"] == failing_step and "non-finite" in summary["error"]
    assert list(tmp_path.iterdir()) == [out]  # nothing is written beside --out


def test_history_logs_the_float64_schedule_on_the_fast_backend_too(tmp_path):
    # The kernels run on float32 sigma (0.1 is 0.10000000149011612 there); history.csv
    # logs GANConfig.sigma_at's float64, as the reference does, the failing row included.
    out = tmp_path / "run"
    args = [*TINY, "--sigma0", "0.1", "--anneal", "linear", "--device", "cpu"]
    assert run.main([*args, "--out", str(out)]) == 0
    config = GANConfig(**json.loads((out / "metrics.json").read_text())["config"])
    history = read_history(out)
    assert [row["sigma"] for row in history] == [repr(config.sigma_at(int(row["step"])))
                                                 for row in history]  # fmt: skip
    assert history[0]["sigma"] == "0.1"
    diverged = tmp_path / "diverged"
    assert run.main([*args, "--lr", "1e200", "--out", str(diverged)]) == exits.NON_FINITE
    assert [row["sigma"] for row in read_history(diverged)] == ["0.1"]


def test_cli_absurd_learning_rate_overflows_and_exits_3(tmp_path):
    # Adam moves every weight by about lr per step: 1e200 overflows D's first matmul at once.
    out = tmp_path / "run"
    done = run_cli(*TINY, "--lr", "1e200", "--out", str(out))
    assert done.returncode == exits.NON_FINITE
    assert "non-finite loss at step 0" in done.stderr.splitlines()[-1]
    assert "Warning" not in done.stderr
    assert {path.name for path in out.iterdir()} == {"metrics.json", "history.csv", "run.json"}


def test_help_documents_every_option():
    parser = options.make_parser()
    actions = {option: action for action in parser._actions for option in action.option_strings}
    named = "sigma0 anneal anneal-steps real-target label-flip dataset steps batch hidden latent"
    for name in [*named.split(), "lr", "d-steps", "generator-loss", "seed", "out", "backend",
                 "device", "population", "penalty", "gamma"]:  # fmt: skip
        assert actions[f"--{name}"].help, name
    assert all(action.help for action in parser._actions)


def test_help_shows_defaults_as_they_are_typed():
    text = options.make_parser().format_help()
    assert "(default: (" not in text and "(default: 0)" in text


def test_a_seed_too_large_for_the_population_is_named_as_typed(tmp_path, capsys):
    # GAN p's seed is --seed + p: the message names the --seed given, not a seed it made
    with pytest.raises(SystemExit) as exit_info:
        run.main([*TINY, "--population", "2", "--seed", str(2**64 - 1), "--out", str(tmp_path)])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.startswith("run.py: error: --seed: ") and stderr.endswith(f"{2**64 - 1}\n")
    assert str(2**64) not in stderr


def test_help_documents_every_exit_status():
    epilog = options.make_parser().epilog
    statuses = [value for name, value in vars(exits).items() if name.isupper()]
    for status in [*statuses, exits.SIGNAL + 2, exits.SIGNAL + 15]:
        assert re.search(rf"(?<![\d.]){status} ", epilog) or status == exits.SIGNAL, status


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--population", "3", "--sigma0", "0.1,0.2"], "--sigma0"),
        (["--population", "2", "--backend", "reference"], "--population"),
        (["--device", "gpu", "--backend", "reference"], "--device"),
        (["--population", "2", "--seed", str(2**64 - 1)], "--seed"),
        (["--penalty", "r1", "--gamma", "-1"], "--gamma"),
        (["--penalty", "roth", "--gamma", "nan"], "--gamma"),
        (["--penalty", "r1", "--gamma", "0.1,0.2", "--population", "3"], "--gamma"),
        (["--penalty", "r2", "--gamma", "1", "--device", "gpu"], "--penalty"),
        (["--penalty", "r1"], "--gamma"),  # a penalty needs a weight
        (["--penalty", "r1", "--gamma", "0,0", "--population", "2"], "--gamma"),
    ],
)
def test_bad_population_options_exit_2_with_one_line(tmp_path, capsys, args, option):
    with pytest.raises(SystemExit) as exit_info:
        run.main([*TINY, *args, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith(f"run.py: error: {option}: ")
    assert list(tmp_path.iterdir()) == []


def test_running_out_of_memory_exits_4_with_one_line_and_writes_nothing(tmp_path, capsys,
                                                                        monkeypatch):  # fmt: skip
    def exhausted(*arguments):
        raise MemoryError

    monkeypatch.setattr(run, "train_and_evaluate", exhausted)
    assert run.main([*TINY, "--batch", "16", "--out", str(tmp_path / "run")]) == (
        exits.OUT_OF_MEMORY
    )
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("run.py: out of memory: --batch 16, ")
    assert list(tmp_path.iterdir()) == []


def test_running_out_of_memory_while_parsing_exits_4_with_one_line(tmp_path, capsys, monkeypatch):
    # --population 2**20 builds a million GANConfigs, and --resume loads a checkpoint
    def exhausted(*arguments):
        raise MemoryError

    monkeypatch.setattr(options, "parse", exhausted)
    assert run.main([*TINY, "--out", str(tmp_path / "run")]) == exits.OUT_OF_MEMORY
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("run.py: out of memory ")
    assert list(tmp_path.iterdir()) == []


def test_first_run_says_it_is_compiling_and_later_runs_do_not(tmp_path):
    # A cold Numba cache (a fresh clone) compiles the fused step for ~20 s: said before the
    # progress bar, which starts after the first step so that its rate leaves it out.
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    said = []
    for name in ("first", "second"):
        done = subprocess.run(
            [sys.executable, "run.py", *TINY, "--device", "cpu", "--out", str(tmp_path / name)],
            cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        said.append("compiling the fast kernels (first run only" in done.stderr)
    assert said == [True, False]


def test_minimax_generator_loss_runs(tmp_path):
    out = tmp_path / "run"
    args = [*TINY, "--generator-loss", "minimax", "--backend", "reference", "--out", str(out)]
    assert run.main(args) == 0
    assert json.loads((out / "metrics.json").read_text())["config"]["generator_loss"] == "minimax"


@pytest.mark.skipif(fast_device.gpu_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_exits_2(tmp_path):
    done = run_cli(*TINY, "--device", "gpu", "--out", str(tmp_path / "run"))
    assert done.returncode == exits.BAD_ARGUMENTS
    assert done.stderr.startswith("run.py: error: --device: gpu needs CuPy")
    assert done.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_fast_backend_tracks_the_reference_run(tmp_path):
    histories = {}
    for backend in ("fast", "reference"):
        out = tmp_path / backend
        args = [*TINY, "--sigma0", "0.1", "--backend", backend, "--device", "cpu"]
        assert run.main([*args, "--out", str(out)]) == 0
        assert {path.name for path in out.iterdir()} == OUTPUTS
        histories[backend] = read_history(out)
    summaries = {b: json.loads((tmp_path / b / "metrics.json").read_text()) for b in histories}
    assert set(summaries["fast"]) == set(summaries["reference"])
    # float32 against float64 from the same float32-rounded start: 12 steps, each within the
    # one-step bound of a step of this size (tests/test_fast_gan.py), to first order
    config = GANConfig(batch=16, hidden=8, latent=2)
    rtol = 12 * float32_tolerance(2 * config.batch, 4 * (HIDDEN_LAYERS + 1))
    for fast_row, reference_row in zip(histories["fast"], histories["reference"], strict=True):
        assert fast_row["step"] == reference_row["step"]
        for name in ("loss_D", "loss_G", "D_real", "D_fake"):
            expected = float(reference_row[name])
            # All four are O(1) by construction (losses ~ log 2, D outputs in (0, 1)), so a
            # floor of 1 bounds their arithmetic's scale without swamping their own size.
            atol = rtol * (1 + abs(expected))
            assert_close(name, float(fast_row[name]), expected, atol=atol, rtol=0.0)


def test_population_writes_one_row_per_gan_and_each_gan_is_its_own_run(tmp_path):
    out = tmp_path / "population"
    args = [*TINY, "--device", "cpu", "--seed", "5"]
    assert run.main([*args, "--population", "3", "--sigma0", "0,0.1,0.2", "--out", str(out)]) == 0
    assert {path.name for path in out.iterdir()} == {
        "population.csv",
        "metrics.json",
        "history.csv",
        "checkpoint.npz",
        "run.json",
    }
    with open(out / "population.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(int(r["gan"]), int(r["seed"]), float(r["sigma0"])) for r in rows] == [
        (0, 5, 0.0), (1, 6, 0.1), (2, 7, 0.2)
    ]  # fmt: skip
    history = read_history(out)
    assert [(int(r["step"]), int(r["gan"])) for r in history[:4]] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (5, 0),
    ]
    summary = json.loads((out / "metrics.json").read_text())
    assert [level["sigma0"] for level in summary["sigma0_levels"]] == [0.0, 0.1, 0.2]
    assert len(summary["gans"]) == 3
    # GAN 1 alone: seed 6, noise 0.1. Bit-identical on the CPU, whatever P (each GAN's
    # arithmetic is its own), so its metrics and logged losses are the population's row 1.
    single = tmp_path / "single"
    assert run.main([*args, "--seed", "6", "--sigma0", "0.1", "--out", str(single)]) == 0
    alone = json.loads((single / "metrics.json").read_text())
    for name in run.METRIC_NAMES:
        assert summary["gans"][1][name] == alone[name], name
    assert summary["gans"][1]["final_loss_G"] == alone["final_loss_G"]
    mine = [r for r in history if r["gan"] == "1"]
    for row, alone_row in zip(mine, read_history(single), strict=True):
        assert all(row[name] == alone_row[name] for name in run.HISTORY_COLUMNS), row


def test_population_stopped_by_a_non_finite_loss_names_its_gans(tmp_path):
    # lr 1e200 overflows every GAN's discriminator at the first step (as for one GAN above)
    out = tmp_path / "population"
    args = [*TINY, "--device", "cpu", "--population", "2", "--lr", "1e200", "--out", str(out)]
    assert run.main(args) == exits.NON_FINITE
    assert {path.name for path in out.iterdir()} == {"metrics.json", "history.csv", "run.json"}
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["failed_step"] == 0 and summary["failed_gans"] == [0, 1]


def test_gamma_takes_one_value_per_gan_or_one_for_all(tmp_path):
    # A GAN of weight 0 is the population's arm without the penalty.
    parser = options.make_parser()
    for gammas, expected in (
        ("0,0.5,2", (("none", 0.0), ("roth", 0.5), ("roth", 2.0))),
        ("0.5", (("roth", 0.5),) * 3),
    ):
        out = str(tmp_path / gammas)
        args = [*TINY, "--penalty", "roth", "--gamma", gammas, "--sigma0", "0.1,0.2,0.3",
                "--population", "3", "--device", "cpu", "--out", out]  # fmt: skip
        members = options.parse(parser, args).population.members
        assert [(m.seed, m.sigma0, m.penalty, m.gamma) for m in members] == [
            (p, sigma0, *penalised)
            for p, (sigma0, penalised) in enumerate(zip((0.1, 0.2, 0.3), expected, strict=True))
        ]
