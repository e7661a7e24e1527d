"""run.py under Ctrl-C and SIGTERM, sent as real signals wherever the run is: while its
libraries load, while the kernels compile, during training, during the last step and the
final writes. The first signal is the one the exit status reports; it is acknowledged at
once where the next step is far off; a second stops at once; no traceback ever; and what is
left, `--resume` finishes."""

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest

import run
from cli import checkpoint, exits
from cli.stop import StopRequest
from reference import gan

REPO = Path(__file__).resolve().parent.parent
TINY = ["--steps", "12", "--batch", "16", "--hidden", "8", "--latent", "2", "--log-every", "5"]


def lines_of(stream) -> queue.Queue:
    """The stream's lines as they come, each with the time it came; None at its end."""
    lines = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put((time.monotonic(), line))
        lines.put((time.monotonic(), None))

    threading.Thread(target=read, daemon=True).start()
    return lines


def next_line(lines: queue.Queue) -> tuple[float, str | None]:
    return lines.get(timeout=120)


def wait_for(lines: queue.Queue, text: str) -> None:
    """Read lines until one says text."""
    while (line := next_line(lines)[1]) is None or text not in line:
        assert line is not None, f"the process ended before it said {text!r}"


def rest_of(lines: queue.Queue) -> list[str]:
    rest = []
    while (line := next_line(lines)[1]) is not None:
        rest.append(line)
    return rest


def without_progress(stderr: str) -> list[str]:
    """stderr's lines, with the progress bar's (carriage returns) left out."""
    return [line for line in stderr.splitlines() if line and "step/s" not in line]


def test_ctrl_c_while_compiling_is_said_at_once_and_a_second_stops_at_once(tmp_path):
    # A cold Numba cache: the first step compiles for tens of seconds. The first Ctrl-C is
    # acknowledged at once; the second ends the process at once, and --resume then starts
    # the run over (it had no checkpoint) and ends where an uninterrupted run ends.
    out = tmp_path / "my run"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "run.py", *TINY, "--device", "cpu", "--out", str(out)],
        cwd=REPO, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines = lines_of(process.stderr)
    try:
        wait_for(lines, "compiling the fast kernels")
        time.sleep(0.5)  # into the compiling
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        said, line = next_line(lines)
        assert line == "run.py: stopping after compilation (Ctrl-C again stops at once)\n"
        assert said - sent < 2, "not at once"
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == exits.SIGNAL + signal.SIGINT
        assert time.monotonic() - sent < 5, "not at once"
    finally:
        process.kill()
        process.wait()
    rest = rest_of(lines)
    assert rest == [f"run.py: stopped at once; kept {out}/ (resume with: python run.py --resume "
                    f"{shlex.quote(str(out))})\n"]  # fmt: skip
    assert {path.name for path in out.iterdir()} == {"run.json", "history.csv"}
    assert run.main(["--resume", str(out)]) == exits.OK
    whole = tmp_path / "whole"
    assert run.main([*TINY, "--device", "cpu", "--out", str(whole)]) == exits.OK
    assert (out / "history.csv").read_bytes() == (whole / "history.csv").read_bytes()


# run.py run as python runs it, after a finder that makes loading numba take 30 s (a cold
# disk), saying when it starts
SLOW_NUMBA = """
import runpy, sys, time
class SlowNumba:
    def find_spec(self, name, path=None, target=None):
        if name == "numba":
            print("loading numba", file=sys.stderr, flush=True)
            time.sleep(30)
sys.meta_path.insert(0, SlowNumba())
runpy.run_path("run.py", run_name="__main__")
"""


def test_ctrl_c_while_the_libraries_load_exits_130_with_one_line(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_NUMBA, *TINY, "--out", str(out)],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = lines_of(process.stderr)
        wait_for(lines, "loading numba")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == exits.SIGNAL + signal.SIGINT
    finally:
        process.kill()
        process.wait()
    rest = rest_of(lines)
    assert rest == ["run.py: stopped while starting; nothing written\n"]
    assert not out.exists()


def signalled_at(monkeypatch, step: int, *signums: int) -> None:
    """The reference backend's training step sends signums to this process at step, as a
    user would from another terminal."""
    train_step = gan.train_step

    def train_step_and_signal(config, state, at):
        if at == step:
            for signum in signums:
                os.kill(os.getpid(), signum)
        return train_step(config, state, at)

    monkeypatch.setattr(gan, "train_step", train_step_and_signal)


@pytest.mark.parametrize(("when", "signum"), [("last step", signal.SIGTERM),
                                              ("final writes", signal.SIGINT)])  # fmt: skip
def test_a_signal_after_the_last_step_finishes_the_run_and_exits_128_plus_it(
    tmp_path, capfd, monkeypatch, when, signum
):
    # The run is finished: every output is written as for an uninterrupted run, nothing
    # says it was interrupted or advises --resume, and --resume refuses it like any
    # finished run; the exit status still says a signal came.
    out = tmp_path / "run"
    args = [*TINY, "--backend", "reference", "--out", str(out)]
    with monkeypatch.context() as patched:
        if when == "last step":
            signalled_at(patched, 11, signum)
        else:
            evaluate = run.evaluate

            def signalled_then_evaluate(*arguments):
                os.kill(os.getpid(), signum)
                return evaluate(*arguments)

            patched.setattr(run, "evaluate", signalled_then_evaluate)
        assert run.main(args) == exits.SIGNAL + signum
    said = without_progress(capfd.readouterr().err)
    name = signal.Signals(signum).name
    assert said[-1] == f"run.py: {name} came after the last step; every output is written"
    if when == "final writes":
        assert said[-2] == "run.py: writing the outputs, then stopping (Ctrl-C again stops at once)"
    assert "resume" not in "".join(said)
    summary = json.loads((out / "metrics.json").read_text())
    assert "interrupted_at" not in summary and "modes_captured" in summary
    assert (out / "samples.png").exists() and checkpoint.load(out / "checkpoint.npz")[0] == 12
    whole = tmp_path / "whole"
    assert run.main([*TINY, "--backend", "reference", "--out", str(whole)]) == exits.OK
    assert (out / "samples.png").read_bytes() == (whole / "samples.png").read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--resume", str(out)])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    assert "has reached step 12" in capfd.readouterr().err


# run.py run as python runs it, whose training step 5 sends this process the signals given
# as the first argument, as a user would from another terminal
SIGNALLED_AT_STEP_5 = """
import os, runpy, sys
from reference import gan
signums, train_step = [int(s) for s in sys.argv.pop(1).split(",")], gan.train_step
def train_step_and_signal(config, state, step):
    for signum in signums if step == 5 else []:
        os.kill(os.getpid(), signum)
    return train_step(config, state, step)
gan.train_step = train_step_and_signal
runpy.run_path("run.py", run_name="__main__")
"""


def test_ctrl_c_then_sigterm_is_a_ctrl_c_and_stops_at_once(tmp_path):
    # Both during step 5, before the first checkpoint: the second stops the process at
    # once, with the first's status; the folder (a name a shell splits) starts over by
    # --resume, and ends as the run that never stopped.
    out = tmp_path / "my run"
    args = [*TINY, "--backend", "reference", "--out", str(out)]
    signums = f"{signal.SIGINT},{signal.SIGTERM}"
    done = subprocess.run([sys.executable, "-c", SIGNALLED_AT_STEP_5, signums, *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == exits.SIGNAL + signal.SIGINT, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.splitlines()[-1]  # on the progress bar's line: both came in a step
    last = last[last.index("run.py: ") :]
    assert last.startswith(f"run.py: stopped at once; kept {out}/ (resume with: ")
    assert shlex.split(last.split("resume with: ")[1].rstrip(")")) == [
        "python", "run.py", "--resume", str(out)
    ]  # fmt: skip
    assert {path.name for path in out.iterdir()} == {"run.json", "history.csv"}
    assert run.main(["--resume", str(out)]) == exits.OK
    whole = tmp_path / "whole"
    assert run.main([*TINY, "--backend", "reference", "--out", str(whole)]) == exits.OK
    assert (out / "history.csv").read_bytes() == (whole / "history.csv").read_bytes()
    _, _, arrays = checkpoint.load(out / "checkpoint.npz")
    _, _, expected = checkpoint.load(whole / "checkpoint.npz")
    assert all(np.array_equal(arrays[name], expected[name]) for name in expected)


def test_a_stop_request_keeps_the_first_signal():
    # Later signals call at_once with the first's number, whatever they are.
    asked = []
    stop = StopRequest(asked.append)
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGTERM):
            os.kill(os.getpid(), signum)
        assert stop.signum == signal.SIGINT and asked == [signal.SIGINT, signal.SIGINT]
    finally:
        stop.restore()


def test_a_run_stopped_after_one_step_says_so_and_shows_its_one_logged_step(tmp_path, monkeypatch):
    # samples.png of a run stopped after step 0: its title gives the steps trained, not
    # --steps, and the loss panel's single logged step is drawn (a line through one point
    # draws nothing).
    drawn, savefig = [], matplotlib.figure.Figure.savefig

    def record(figure, *arguments, **keywords):
        (losses,) = [axes for axes in figure.axes if axes.get_title().startswith("losses")]
        drawn.append((figure._suptitle.get_text(), losses.get_lines()[:2]))
        savefig(figure, *arguments, **keywords)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    signalled_at(monkeypatch, 0, signal.SIGINT)
    out = tmp_path / "run"
    args = [*TINY, "--backend", "reference", "--sigma0", "0.1", "--out", str(out)]
    assert run.main(args) == exits.SIGNAL + signal.SIGINT
    ((title, (loss_D, loss_G)),) = drawn
    assert "stopped after 1 of 12 steps" in title
    for line in (loss_D, loss_G):
        assert len(line.get_xdata()) == 1 and line.get_marker() not in ("None", "", None)


def test_a_stopped_run_is_not_evaluated_at_the_step_it_stopped_at(tmp_path, monkeypatch, capsys):
    # Stopped after step 22, whose row is not logged: --steps 23 would end the run at its
    # checkpoint with no last row to report; it is refused like a run that reached its end.
    signalled_at(monkeypatch, 22, signal.SIGINT)
    out = tmp_path / "run"
    args = [*TINY, "--steps", "1000", "--backend", "reference", "--out", str(out)]
    assert run.main(args) == exits.SIGNAL + signal.SIGINT
    monkeypatch.undo()
    assert checkpoint.load(out / "checkpoint.npz")[0] == 23
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--resume", str(out), "--steps", "23"])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    assert "has reached step 23; give more to train on" in capsys.readouterr().err
