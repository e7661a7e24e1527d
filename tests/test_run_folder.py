"""run.py's folder: whatever a crash, a full disk, a second process or an edited file leaves
in it, `--resume` finishes the run or refuses with one line, touching nothing. A run killed
while evaluating is evaluated; one killed before its first checkpoint starts over; a
checkpoint is continued only with the run.json and the history.csv it belongs to; a write
the operating system refuses is one line and exit status 5, the last checkpoint kept; one
process writes into a folder at a time."""

import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import run
from cli import checkpoint, exits, files, options
from figures import samples

REPO = Path(__file__).resolve().parent.parent
OUTPUTS = {"samples.png", "metrics.json", "history.csv", "checkpoint.npz", "run.json"}
ARGS = ["--batch", "16", "--hidden", "8", "--latent", "2", "--sigma0", "0.3", "--anneal",
        "linear", "--anneal-steps", "40", "--log-every", "5", "--checkpoint-every", "10",
        "--device", "cpu"]  # fmt: skip


def train(out: Path, steps: int, *extra: str) -> Path:
    assert run.main([*ARGS, *extra, "--steps", str(steps), "--out", str(out)]) == exits.OK
    return out


def snapshot(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def assert_same_run(folder: Path, expected: Path) -> None:
    """folder ended as expected did: history, checkpoint, metrics, figure, bit for bit."""
    assert (folder / "history.csv").read_bytes() == (expected / "history.csv").read_bytes()
    (step, _, arrays), (want, _, wanted) = (checkpoint.load(f / "checkpoint.npz")
                                            for f in (folder, expected))  # fmt: skip
    assert step == want and all(np.array_equal(arrays[k], wanted[k]) for k in wanted)
    summary, wanted = (json.loads((f / "metrics.json").read_text()) for f in (folder, expected))
    for name in (*run.METRIC_NAMES, "final_loss_D", "final_loss_G"):
        assert summary[name] == wanted[name], name
    assert "interrupted_at" not in summary
    assert (folder / "samples.png").read_bytes() == (expected / "samples.png").read_bytes()


def refused(folder: Path, capsys, *extra: str) -> str:
    """--resume folder, which must exit 2 with one line and touch nothing: the line."""
    before, _ = snapshot(folder), capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--resume", str(folder), *extra])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("run.py: error: ")
    assert snapshot(folder) == before
    return stderr


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The uninterrupted 30-step run that every damaged folder below must end as."""
    return train(tmp_path_factory.mktemp("straight") / "run", 30)


@pytest.fixture
def finished(tmp_path) -> Path:
    return train(tmp_path / "finished", 30)


@pytest.mark.parametrize("case", ["outputs missing", "outputs of an earlier finish"])
def test_a_run_killed_while_evaluating_is_evaluated_by_resume(tmp_path, straight, case):
    # Killed (SIGKILL, out of memory) after its last checkpoint, while evaluating or drawing
    # samples.png: the checkpoint is at --steps and the outputs are missing, or are those
    # of the shorter run it continued. --resume evaluates and writes them, training nothing.
    if case == "outputs missing":
        folder = train(tmp_path / "run", 30)
        (folder / "metrics.json").unlink()
        (folder / "samples.png").unlink()
    else:
        folder = train(tmp_path / "run", 20)
        earlier = (folder / "metrics.json").read_text()
        assert run.main(["--resume", str(folder), "--steps", "30"]) == exits.OK
        (folder / "metrics.json").write_text(earlier)
        (folder / "samples.png").unlink()
    saved = os.stat(folder / "checkpoint.npz").st_ino
    assert run.main(["--resume", str(folder)]) == exits.OK
    assert os.stat(folder / "checkpoint.npz").st_ino == saved  # not written again
    assert_same_run(folder, straight)


def test_a_finished_run_still_needs_more_steps(finished, capsys):
    stderr = refused(finished, capsys)
    assert "--steps: the run in" in stderr and "has reached step 30" in stderr


def test_a_run_stopped_before_its_first_checkpoint_starts_over(finished, straight):
    # Killed while compiling or before --checkpoint-every steps: run.json and the rows
    # logged so far, a row cut short, the temporary of a write it cut short, and a file of
    # the user's. --resume starts over from step 0, replacing the run's own files and
    # removing the temporary, nothing else.
    for name in ("checkpoint.npz", "metrics.json", "samples.png"):
        (finished / name).unlink()
    history = (finished / "history.csv").read_bytes()
    (finished / "history.csv").write_bytes(history[: history.index(b"\n5,") + 8])
    (finished / "notes.txt").write_text("mine")
    (finished / ".checkpoint.npz.4242-0badc0de.partial").write_bytes(b"PK\x03\x04 half")
    assert run.main(["--resume", str(finished)]) == exits.OK
    assert_same_run(finished, straight)
    assert (finished / "notes.txt").read_text() == "mine"
    assert {path.name for path in finished.iterdir()} == {*OUTPUTS, "notes.txt"}


def test_a_checkpoint_of_another_run_is_refused(tmp_path, capsys):
    # Same networks (the shapes fit), another sigma0: the checkpoint is not this folder's.
    ours = train(tmp_path / "ours", 20)
    theirs = train(tmp_path / "theirs", 20, "--sigma0", "0")
    shutil.copy(theirs / "checkpoint.npz", ours / "checkpoint.npz")
    stderr = refused(ours, capsys, "--steps", "30")
    assert stderr.startswith("run.py: error: --resume: ")
    assert f"{ours / 'checkpoint.npz'} is another run's: its sigma0 is [0.0], run.json's" in stderr


def duplicate_row(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:3], lines[2], *lines[3:]])


def delete_row(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:2], *lines[3:]])


def edit_value(text: str) -> str:  # a digit of line 3's loss_D, the same length
    lines = text.splitlines(keepends=True)
    fields = lines[2].split(",")
    fields[2] = fields[2][:-1] + ("1" if fields[2][-1] != "1" else "2")
    return "".join([*lines[:2], ",".join(fields), *lines[3:]])


DAMAGES = {
    "header altered": (lambda text: text.replace("loss_D", "loss_d", 1), "its header is"),
    "emptied": (lambda text: "", "it is empty"),
    "deleted": (None, "is missing"),
    "a row duplicated": (duplicate_row, "line 4: step 5 is logged again"),
    "a row deleted": (delete_row, "rows are missing"),
    "a step not an integer": (lambda text: text.replace("\n5,", "\nfive,"), "'five' is not an"),
    "a value not a number": (lambda text: text.replace("\n5,0.", "\n5,O."), "is not a number"),
    "a value edited": (edit_value, "are not those the checkpoint was saved with"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_history_is_refused_naming_the_file_and_the_problem(finished, capsys, damage):
    change, says = DAMAGES[damage]
    path = finished / "history.csv"
    if change is None:
        path.unlink()
    else:
        path.write_bytes(change(path.read_bytes().decode()).encode())
    stderr = refused(finished, capsys, "--steps", "40")
    assert stderr.startswith(f"run.py: error: --resume: {path}") and says in stderr


def test_another_runs_history_is_refused(tmp_path, capsys):
    # Its rows are well formed, and as many: only the checkpoint's mark tells them apart.
    ours, theirs = train(tmp_path / "ours", 20), train(tmp_path / "theirs", 20, "--seed", "1")
    shutil.copy(theirs / "history.csv", ours / "history.csv")
    stderr = refused(ours, capsys, "--steps", "30")
    assert "are not those the checkpoint was saved with" in stderr


@pytest.mark.parametrize("cut", [1, 9, -2], ids=["its first character", "mid-row", "all but 1"])
def test_a_row_cut_short_by_a_crash_is_logged_again(tmp_path, straight, cut):
    # A crash while logging the row after the checkpoint's leaves part of it at the end
    # (its first character, "2", reads as step 2). The resumed run logs it again, whole.
    folder = train(tmp_path / "run", 20)
    row = (straight / "history.csv").read_bytes().splitlines(keepends=True)[6]
    assert row.startswith(b"25,")  # the next row logged after the checkpoint of step 20
    with open(folder / "history.csv", "ab") as file:
        file.write(row[:cut])
    assert run.main(["--resume", str(folder), "--steps", "30"]) == exits.OK
    assert_same_run(folder, straight)


def test_a_second_run_py_on_the_same_folder_exits_2_naming_the_first(tmp_path, capsys):
    folder = train(tmp_path / "run", 20)
    first = subprocess.Popen(
        [sys.executable, "run.py", "--resume", str(folder), "--steps", "1000000"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and first.poll() is None:
            lock = folder / ".lock"
            if lock.exists() and lock.read_text().strip() == str(first.pid):
                break
            time.sleep(0.01)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:  # while the first writes there
            run.main(["--resume", str(folder), "--steps", "40"])
        assert exit_info.value.code == exits.BAD_ARGUMENTS
        said = f"{str(folder)!r} is in use by another process (process {first.pid})"
        assert capsys.readouterr().err == f"run.py: error: --resume: {said}\n"
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == exits.SIGNAL + signal.SIGTERM, stderr
    assert not (folder / ".lock").exists()  # a folder at rest holds its outputs alone


def no_space(*arguments, **keywords):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDisk:
    """A file that takes budget bytes more, then refuses with ENOSPC, as a full disk does."""

    def __init__(self, file, budget: int):
        self.file, self.budget = file, budget

    def write(self, data: bytes) -> int:
        self.file.write(data[: self.budget])
        if len(data) > self.budget:
            self.file.flush()
            no_space()
        self.budget -= len(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


def refuse_writes_of(monkeypatch, name: str) -> None:
    """Make the disk refuse name's next write (its second, for checkpoint.npz), as a full
    disk does, in the middle of it where it is written piece by piece."""
    if name == "checkpoint.npz":
        savez, calls = np.savez, []

        def savez_once(file, **arrays):
            calls.append(1)
            if len(calls) == 2:
                file.write(b"PK\x03\x04 half")
                no_space()
            savez(file, **arrays)

        monkeypatch.setattr(np, "savez", savez_once)
    elif name == "history.csv":
        start = files.History.__init__

        def full_after_a_row(self, *arguments):
            start(self, *arguments)
            self.file = FullDisk(self.file, 200)

        monkeypatch.setattr(files.History, "__init__", full_after_a_row)
    elif name == "samples.png":
        monkeypatch.setattr(samples, "plot", no_space)
    else:  # metrics.json, run.json
        write_text = Path.write_text

        def refused_for_name(path, *arguments, **keywords):
            if path.name.startswith(f".{name}."):
                no_space()
            return write_text(path, *arguments, **keywords)

        monkeypatch.setattr(Path, "write_text", refused_for_name)


@pytest.mark.parametrize(
    ("name", "kept"),
    [("checkpoint.npz", 10), ("history.csv", 10), ("samples.png", 30), ("metrics.json", 30),
     ("run.json", None)],
)  # fmt: skip
def test_a_write_the_disk_refuses_exits_5_naming_it_and_keeps_the_last_checkpoint(
    tmp_path, straight, capsys, monkeypatch, name, kept
):
    folder = tmp_path / "my run"
    with monkeypatch.context() as patched:
        refuse_writes_of(patched, name)
        status = run.main([*ARGS, "--steps", "30", "--out", str(folder)])
    assert status == exits.WRITE_FAILED
    stderr = capsys.readouterr().err
    last = stderr.splitlines()[-1]  # after the progress bar's
    assert "Traceback" not in stderr
    said = f"run.py: could not write {folder / name}: No space left on device; "
    if kept is None:  # nothing had been written: nothing is left
        assert stderr == said + "nothing written\n" and list(tmp_path.iterdir()) == []
        return
    assert last == said + f"kept {folder}/ (resume with: python run.py --resume '{folder}')"
    assert checkpoint.load(folder / "checkpoint.npz")[0] == kept
    assert not [path for path in folder.iterdir() if path.name.startswith(".")]
    assert run.main(["--resume", str(folder)]) == exits.OK
    assert_same_run(folder, straight)


def test_a_file_size_limit_stops_a_real_process_with_exit_5(tmp_path, straight):
    # The operating system's own refusal (EFBIG past RLIMIT_FSIZE, as ENOSPC on a full
    # disk): history.csv, logged at every step, outgrows the limit in the middle of a row,
    # some checkpoints in. --resume then ends where the run would have.
    folder, row = tmp_path / "run", len((straight / "history.csv").read_bytes()) // 8
    limit = (straight / "checkpoint.npz").stat().st_size + 1000  # more than any checkpoint
    steps = str(15 + limit // row)

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "run.py", *ARGS, "--log-every", "1", "--steps", steps, "--out",
               str(folder)]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                          preexec_fn=limited)  # fmt: skip
    assert done.returncode == exits.WRITE_FAILED, done.stderr
    assert re.fullmatch(rf"run\.py: could not write {folder}/history\.csv: File too large; "
                        rf"kept {folder}/ \(resume with: [^\n]*\)\n",
                        done.stderr.splitlines(keepends=True)[-1])  # fmt: skip
    assert "Traceback" not in done.stderr
    assert checkpoint.load(folder / "checkpoint.npz")[0] > 0
    assert (folder / "history.csv").stat().st_size == limit
    assert run.main(["--resume", str(folder)]) == exits.OK
    assert_same_run(folder, train(tmp_path / "whole", int(steps), "--log-every", "1"))


def test_a_read_only_folder_exits_5_and_touches_nothing(finished, capsys):
    before = snapshot(finished)
    finished.chmod(0o555)
    try:
        if os.access(finished, os.W_OK):
            pytest.skip("this process writes into read-only folders (root, CAP_DAC_OVERRIDE)")
        status = run.main(["--resume", str(finished), "--steps", "40"])
    finally:
        finished.chmod(0o755)
    assert status == exits.WRITE_FAILED
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "Permission denied" in stderr
    assert stderr.startswith(f"run.py: could not write {finished}/")
    assert snapshot(finished) == before


def test_a_finished_run_given_more_steps_and_killed_before_its_next_checkpoint_resumes(
    finished, tmp_path
):
    # The finished run's last row (step 29, logged as its last step) goes when it trains on;
    # its checkpoint says so before any step, so a SIGKILL before the next checkpoint
    # leaves a folder that --resume continues to where a run that never stopped ends.
    process = subprocess.Popen(
        [sys.executable, "run.py", "--resume", str(finished), "--steps", "1000000",
         "--checkpoint-every", "500000"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    history, deadline = finished / "history.csv", time.monotonic() + 120
    while not re.search(rb"^40,", history.read_bytes(), re.M):
        assert time.monotonic() < deadline and process.poll() is None, "step 40 never logged"
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert checkpoint.load(finished / "checkpoint.npz")[0] == 30
    resumed = ["--resume", str(finished), "--steps", "50", "--checkpoint-every", "10"]
    assert run.main(resumed) == exits.OK
    assert_same_run(finished, train(tmp_path / "whole", 50))


def test_a_folder_left_before_its_run_json_is_taken_by_the_same_command(tmp_path, straight):
    # Killed (or out of disk) after making --out but before writing run.json: the folder
    # holds the lock and a temporary, nothing of anyone's. The same command takes it.
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / ".lock").write_text("4242\n")
    (folder / ".run.json.4242-0badc0de.partial").write_text('{"argu')
    train(folder, 30)
    assert_same_run(folder, straight)
    assert {path.name for path in folder.iterdir()} == OUTPUTS


def test_a_folder_the_system_refuses_to_make_exits_5_in_one_line(tmp_path, capsys, monkeypatch):
    def refused(self, *arguments, **keywords):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))

    monkeypatch.setattr(Path, "mkdir", refused)
    out = tmp_path / "run"
    assert run.main([*ARGS, "--steps", "10", "--out", str(out)]) == exits.WRITE_FAILED
    stderr = capsys.readouterr().err
    assert stderr == f"run.py: could not write {out}: Permission denied; nothing written\n"


def test_a_link_at_the_locks_name_is_never_written_through(finished, tmp_path, capsys):
    victim = tmp_path / "victim"
    victim.write_text("mine")
    (finished / ".lock").symlink_to(victim)
    assert run.main(["--resume", str(finished), "--steps", "40"]) == exits.WRITE_FAILED
    assert victim.read_text() == "mine"
    assert capsys.readouterr().err.startswith(f"run.py: could not write {finished}/.lock: ")


def test_resume_given_twice_is_refused(finished, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--resume", str(finished), "--resume", str(tmp_path / "other")])
    assert exit_info.value.code == exits.BAD_ARGUMENTS
    assert capsys.readouterr().err.startswith("run.py: error: --resume: given twice (")


def test_a_hint_for_a_folder_named_like_an_option_reads_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert options.quoted(Path("-run")) == "./-run"
    assert options.quoted(Path("my run")) == "'my run'"


@pytest.mark.parametrize(
    ("name", "value"),
    [("sigma0", 5), ("sigma0", "abc"), ("steps", "40"), ("population", 2.0),
     ("device", "tpu"), ("backend", "nope"), ("log_every", 0)],
)  # fmt: skip
def test_a_run_json_edited_to_what_run_py_never_writes_is_refused(finished, capsys, name, value):
    # The folder starts over from run.json (no checkpoint yet): its arguments are read
    # back as options would make them, and one that is not refused in one line.
    for output in ("checkpoint.npz", "metrics.json", "samples.png"):
        (finished / output).unlink()
    record = json.loads((finished / "run.json").read_text())
    record["arguments"][name] = value
    (finished / "run.json").write_text(json.dumps(record))
    stderr = refused(finished, capsys)
    assert f"run.json holds arguments run.py does not make: its {name} is {value!r}" in stderr


def test_arguments_with_many_digits_read_back_as_themselves(tmp_path):
    # The check above reads each stored value back at full precision: a run of any typed
    # value resumes.
    folder = train(tmp_path / "run", 10, "--sigma0", "0.123456789012345", "--lr", "1.23456789e-4")
    assert run.main(["--resume", str(folder), "--steps", "20"]) == exits.OK


def test_a_file_is_on_disk_before_its_rename_makes_it_the_file(tmp_path, monkeypatch):
    # A power loss after the rename must find the new content: the temporary is synced,
    # then renamed, then the folder is synced.
    events, fsync, replace = [], os.fsync, os.replace

    def synced(descriptor):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        fsync(descriptor)

    def renamed(source, target):
        events.append(("rename", str(source)))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "replace", renamed)
    files.write_atomically(tmp_path / "metrics.json", lambda path: path.write_text("{}"))
    (_, temporary), *rest = events
    assert files.TEMPORARY.fullmatch(Path(temporary).name)
    assert rest == [("rename", temporary), ("fsync", str(tmp_path))]


@pytest.mark.parametrize("edit", ["an earlier step", "non-finite parameters"])
def test_a_checkpoint_saved_again_with_edited_arrays_is_refused(finished, capsys, edit):
    # A whole, readable checkpoint whose arrays were edited: its step set back (with Adam's
    # counts to match) while history.csv runs past it, or parameters that are not finite.
    path = finished / "checkpoint.npz"
    step, arguments, arrays = checkpoint.load(path)
    if edit == "an earlier step":
        step, arrays = 20, arrays | {"t_G": np.array(20), "t_D": np.array(20)}
    else:
        arrays["theta_G"][0, 3] = np.nan
    checkpoint.save(path, step, arguments, arrays)
    stderr = refused(finished, capsys, "--steps", "40")
    expected = "logs step 29, past the checkpoint's step 20" if step == 20 else "non-finite"
    assert expected in stderr
