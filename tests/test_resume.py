"""run.py stopped and continued: Ctrl-C or SIGTERM sent to a real process keeps every
output for the step reached, with one line and the shell's status; `--resume` then ends
exactly where the uninterrupted run ends (history.csv, parameters, metrics, samples.png, bit
for bit on the CPU), on both backends and for a population; and what --resume cannot use is
refused with one line, touching nothing."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import run
from cli import checkpoint, exits

REPO = Path(__file__).resolve().parent.parent
# anneal_steps explicit: its default is --steps, which a resumed run may change
SMALL = ["--batch", "16", "--hidden", "8", "--latent", "2", "--sigma0", "0.3", "--anneal",
         "linear", "--anneal-steps", "1500", "--log-every", "50",
         "--checkpoint-every", "100"]  # fmt: skip
STEPS = 1200  # what the uninterrupted run trains, and the resumed one up to


def interrupted_run(out: Path, args: list[str], signum: int) -> subprocess.CompletedProcess:
    """run.py with far more steps than it will get, sent signum once it has logged a few."""
    process = subprocess.Popen(
        [sys.executable, "run.py", *args, "--steps", "1000000", "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    history, deadline = out / "history.csv", time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if history.exists() and re.search(r"^50,", history.read_text(), re.MULTILINE):
            break  # step 50 is logged
        time.sleep(0.01)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def checkpoint_of(folder: Path) -> tuple[int, dict]:
    step, _, arrays = checkpoint.load(folder / "checkpoint.npz")
    return step, arrays


@pytest.mark.parametrize(
    ("extra", "signum", "single"),
    [
        (["--backend", "reference"], signal.SIGINT, True),
        (["--device", "cpu"], signal.SIGTERM, True),
        (["--device", "cpu", "--population", "3", "--sigma0", "0,0.1,0.3"], signal.SIGINT, False),
    ],
    ids=["reference-SIGINT", "fast-SIGTERM", "population-SIGINT"],
)
def test_a_stopped_run_keeps_its_outputs_and_resumes_to_the_uninterrupted_run(
    tmp_path, extra, signum, single
):
    args = [*SMALL, *extra]
    stopped = tmp_path / "stopped"
    done = interrupted_run(stopped, args, signum)
    assert done.returncode == 128 + signum, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    match = re.fullmatch(
        rf"run\.py: interrupted at step (\d+) of 1000000; kept {stopped}/ \(resume with: "
        rf"python run\.py --resume {stopped}\)", last)  # fmt: skip
    assert match and "Traceback" not in done.stderr, done.stderr
    reached = int(match[1])
    assert 50 < reached < STEPS, "stopped too late to test resuming"
    figure = "samples.png" if single else "population.csv"
    outputs = {"history.csv", "metrics.json", "checkpoint.npz", "run.json", figure}
    assert {p.name for p in stopped.iterdir()} == outputs
    summary = json.loads((stopped / "metrics.json").read_text())
    assert summary["interrupted_at"] == reached == checkpoint_of(stopped)[0]
    assert "modes_captured" in summary if single else len(summary["gans"]) == 3

    assert run.main(["--resume", str(stopped), "--steps", str(STEPS)]) == 0
    whole = tmp_path / "whole"
    assert run.main([*args, "--steps", str(STEPS), "--out", str(whole)]) == 0
    assert (stopped / "history.csv").read_text() == (whole / "history.csv").read_text()
    (step, resumed), (whole_step, expected) = checkpoint_of(stopped), checkpoint_of(whole)
    assert step == whole_step == STEPS
    for name, value in expected.items():
        assert np.array_equal(resumed[name], value), name
    finished, uninterrupted = (json.loads((f / "metrics.json").read_text())
                               for f in (stopped, whole))  # fmt: skip
    assert "interrupted_at" not in finished
    if single:
        for name in (*run.METRIC_NAMES, "final_loss_D", "final_loss_G"):
            assert finished[name] == uninterrupted[name], name
    else:
        assert finished["gans"] == uninterrupted["gans"]
    assert (stopped / figure).read_bytes() == (whole / figure).read_bytes()


def test_a_finished_run_trains_longer_with_a_larger_steps(tmp_path):
    args = [*SMALL, "--device", "cpu"]
    assert run.main([*args, "--steps", "120", "--out", str(tmp_path / "short")]) == 0
    assert run.main(["--resume", str(tmp_path / "short"), "--steps", "260"]) == 0
    assert run.main([*args, "--steps", "260", "--out", str(tmp_path / "long")]) == 0
    longer, straight = checkpoint_of(tmp_path / "short"), checkpoint_of(tmp_path / "long")
    assert longer[0] == straight[0] == 260
    assert all(np.array_equal(longer[1][k], straight[1][k]) for k in straight[1])
    history = [(tmp_path / f / "history.csv").read_text() for f in ("short", "long")]
    assert history[0] == history[1]


@pytest.fixture
def finished(tmp_path) -> Path:
    out = tmp_path / "finished"
    assert run.main([*SMALL, "--device", "cpu", "--steps", "20", "--out", str(out)]) == 0
    return out


def snapshot(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def rewrite_checkpoint(folder: Path, **changes) -> None:
    with np.load(folder / "checkpoint.npz") as content:
        stored = dict(content)
    np.savez(folder / "checkpoint.npz", **stored | changes)


@pytest.mark.parametrize(
    ("case", "option", "says"),
    [
        ("no checkpoint", "--resume", "no checkpoint"),
        ("another format", "--resume", "checkpoint format 99"),
        ("other networks", "--resume", "the checkpoint's theta_G is (1, "),
        ("arguments not JSON", "--resume", "not a readable checkpoint"),
        ("stale", "--resume", "is stale"),
        ("an --out", "--out", "cannot go with --resume"),
        ("changes the noise", "--sigma0", "--resume takes it from there"),
        ("changes the seed", "--seed", "--resume takes it from there"),
        ("fewer steps", "--steps", "has reached step 20"),
    ],
)
def test_what_resume_cannot_use_exits_2_with_one_line_and_touches_nothing(
    finished, capsys, case, option, says
):
    extra = []
    if case == "no checkpoint":
        (finished / "checkpoint.npz").unlink()
    elif case == "another format":
        rewrite_checkpoint(finished, format=99)
    elif case == "other networks":
        step, arguments, arrays = checkpoint.load(finished / "checkpoint.npz")
        rewrite_checkpoint(finished, arguments=json.dumps({**arguments, "hidden": 9}))
        extra = ["--steps", "40"]  # train on, or --steps would be refused first
    elif case == "arguments not JSON":
        rewrite_checkpoint(finished, arguments="{noise: 0.3")
    elif case == "stale":  # a step that the Adam counts do not belong to
        rewrite_checkpoint(finished, step=19)
    else:
        extra = {"changes the noise": ["--sigma0", "0.2"], "changes the seed": ["--seed", "1"],
                 "fewer steps": ["--steps", "20"],
                 "an --out": ["--steps", "40", "--out", str(finished)]}[case]  # fmt: skip
    before = snapshot(finished)
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--resume", str(finished), *extra])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith(f"run.py: error: {option}: ")
    assert says in stderr
    assert snapshot(finished) == before


def test_an_option_given_with_the_runs_own_value_is_no_change(finished):
    # --sigma0 0.3 and --device cpu are what the run has: resuming with them is allowed
    assert run.main(["--resume", str(finished), "--steps", "30", "--sigma0", "0.3",
                     "--device", "cpu"]) == 0  # fmt: skip
    assert checkpoint_of(finished)[0] == 30


def test_a_changed_log_every_keeps_every_step_already_logged(tmp_path):
    # --log-every 7 logs step 49 as a multiple of 7 (and the last of 50): resuming with
    # --log-every 10 must keep it, and log 50, 60, 70 and the new last step after it.
    out = tmp_path / "run"
    args = [*SMALL, "--device", "cpu", "--log-every", "7", "--steps", "50", "--out", str(out)]
    assert run.main(args) == 0
    assert run.main(["--resume", str(out), "--steps", "80", "--log-every", "10"]) == 0
    with open(out / "history.csv") as file:
        steps = [int(line.split(",")[0]) for line in file.readlines()[1:]]
    assert steps == [*range(0, 50, 7), 50, 60, 70, 79]


def test_a_checkpoint_without_penalty_arguments_resumes_as_a_run_without_one(finished):
    # Its arguments lack --penalty and --gamma, which it ran without: none and 0.
    with np.load(finished / "checkpoint.npz") as content:
        arguments = json.loads(str(content["arguments"]))
    older = {name: value for name, value in arguments.items() if name not in ("penalty", "gamma")}
    rewrite_checkpoint(finished, arguments=np.array(json.dumps(older)))
    assert run.main(["--resume", str(finished), "--steps", "30"]) == 0


def test_a_checkpoint_naming_options_by_their_aliases_resumes_as_the_same_run(finished, tmp_path):
    # Stored arguments may say noise for --sigma0 and label_smoothing for --real-target
    # (checkpoint.ALIASES): resumed, such a run continues exactly as the one they name.
    aliased = tmp_path / "aliased"
    shutil.copytree(finished, aliased)
    _, arguments, _ = checkpoint.load(aliased / "checkpoint.npz")
    alias_of = {name: alias for alias, name in checkpoint.ALIASES.items()}
    older = {alias_of.get(name, name): value for name, value in arguments.items()}
    assert {"noise", "label_smoothing"} <= set(older) and "sigma0" not in older
    rewrite_checkpoint(aliased, arguments=np.array(json.dumps(older)))
    for folder in (finished, aliased):
        assert run.main(["--resume", str(folder), "--steps", "30"]) == 0
    (step, resumed), (_, expected) = checkpoint_of(aliased), checkpoint_of(finished)
    assert step == 30 and all(np.array_equal(resumed[k], expected[k]) for k in expected)
    assert (aliased / "history.csv").read_text() == (finished / "history.csv").read_text()
    _, stored, _ = checkpoint.load(aliased / "checkpoint.npz")
    assert stored == checkpoint.load(finished / "checkpoint.npz")[1]  # in the present names


def test_options_written_name_equals_value_are_seen(finished, capsys):
    # argparse takes --sigma0=0.2 as --sigma0 0.2: --resume must see it as given, too
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--resume", str(finished), "--steps", "40", "--sigma0=0.2"])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    assert capsys.readouterr().err.startswith("run.py: error: --sigma0: the run in ")
    assert checkpoint_of(finished)[0] == 20
    assert run.main(["--resume", str(finished), "--steps=40"]) == 0
    assert checkpoint_of(finished)[0] == 40


def test_a_resumed_run_keeps_its_penalty(tmp_path):
    # The defaults that stored arguments lack (checkpoint.upgrade) are only for what they
    # lack: a run with R1 continues with R1, as the run that never stopped.
    args = [*SMALL, "--device", "cpu", "--penalty", "r1", "--gamma", "0.5"]
    assert run.main([*args, "--steps", "20", "--out", str(tmp_path / "stopped")]) == 0
    assert run.main(["--resume", str(tmp_path / "stopped"), "--steps", "40"]) == 0
    assert run.main([*args, "--steps", "40", "--out", str(tmp_path / "whole")]) == 0
    (step, resumed), (_, expected) = (checkpoint_of(tmp_path / f) for f in ("stopped", "whole"))
    assert step == 40 and all(np.array_equal(resumed[k], expected[k]) for k in expected)
    history = [(tmp_path / f / "history.csv").read_text() for f in ("stopped", "whole")]
    assert history[0] == history[1]


def test_resume_with_device_auto_keeps_the_runs_device(finished):
    # auto asks for no device in particular: the run continues where it ran
    assert run.main(["--resume", str(finished), "--steps", "30", "--device", "auto"]) == 0
    assert checkpoint_of(finished)[0] == 30
