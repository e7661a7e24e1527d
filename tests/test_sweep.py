"""sweep/__main__.py: a tiny grid end to end, each of its runs the single run of run.py with
the same arguments; a sweep interrupted by a real SIGINT and continued by the same command
(printed shell-quoted) ends with exactly the rows of an uninterrupted one; bad arguments
exit 2 with one line, touching nothing, and so does a second sweep on a folder in use; a
failed write (disk full, read-only) is one line and exit 5, what was written before stays
whole and the same command ends the sweep; Ctrl-C while the modules load is at most one
line and 130, and while the summary is written it finishes it and exits 130; Ctrl-C while
the kernels compile is said at once, and a second stops at once."""

import csv
import dataclasses
import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import run
from cli import checkpoint, exits, files
from fast import gan as fast_gan
from sweep import blocks, grids
from sweep.__main__ import main as sweep_main
from sweep.__main__ import parse as sweep_parse
from sweep.blocks import METRICS
from tests.sweeps import files_of, rows_of

REPO = Path(__file__).resolve().parent.parent
TINY = grids.GRIDS["tiny"]


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
    "case",
    [
        "unknown grid",
        "grid given twice",
        "another grid",
        "a changed grid",
        "a damaged record",
        "not a sweep",
    ],
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
    grid = {"unknown grid": ["huge"], "grid given twice": ["small", "--grid", "tiny"]}
    with pytest.raises(SystemExit) as exit_info:
        sweep_main(["--grid", *grid.get(case, ["tiny"]), "--out", str(folder)])
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


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The tiny grid, swept whole once for the module (seconds)."""
    folder = tmp_path_factory.mktemp("finished") / "sweep"
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == 0
    return folder


def test_a_second_sweep_on_a_folder_in_use_exits_2_naming_the_holder(tmp_path, capsys):
    folder = tmp_path / "sweep"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from cli.lock import "
         "FolderLock\nwith FolderLock(Path(sys.argv[1])):\n print('held', flush=True)\n "
         "sys.stdin.read()", str(folder)],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.BAD_ARGUMENTS
    finally:
        holder.kill()  # SIGKILL: its lock file stays, and its lock goes with it
        holder.communicate(timeout=60)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m sweep: error: "), err
    assert str(folder) in err and f"process {holder.pid}" in err
    assert [path.name for path in folder.iterdir()] == [".lock"]
    # the lock of a process that is gone blocks nothing, and holds the folder for no sweep
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK


def fail_writes(monkeypatch, name: str, errno: int, after: int = 0) -> None:
    """Every atomic write of a file called name but its first `after` fails as a full or
    read-only disk would: the temporary file written, then the error."""
    real, seen = files.write_atomically, []

    def write_atomically(path: Path, write) -> None:
        seen.extend([path] if path.name == name else [])
        if path.name != name or len(seen) <= after:
            return real(path, write)

        def refused(temporary: Path) -> None:
            write(temporary)
            raise OSError(errno, os.strerror(errno), str(temporary))

        real(path, refused)

    for module in (files, checkpoint, sys.modules["sweep.__main__"]):
        monkeypatch.setattr(module, "write_atomically", write_atomically)


class ReadOnlyLock:
    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self.path))

    def __exit__(self, *exc):
        pass


WRITE_FAILURES = {  # what fails -> (its path in the sweep's folder, the error)
    "the folder": ("", errno.ENOTDIR),  # --out below a file: a real failure
    "the lock": (".lock", errno.EROFS),
    "the record": ("sweep.json", errno.EROFS),
    "a block's checkpoint": ("block-ring-d1.npz", errno.ENOSPC),
    "runs.csv": ("runs.csv", errno.ENOSPC),
    "summary.md": ("summary.md", errno.ENOSPC),
}


@pytest.mark.parametrize("case", WRITE_FAILURES)
def test_a_failed_write_is_one_line_and_exit_5_and_what_was_written_stays_whole(
    finished, tmp_path, monkeypatch, capsys, case
):
    folder = tmp_path / "sweep"
    name, code = WRITE_FAILURES[case]
    if case == "the folder":
        (tmp_path / "file").write_text("mine")
        folder = tmp_path / "file" / "sweep"
    elif case == "the lock":
        monkeypatch.setattr(sys.modules["sweep.__main__"], "FolderLock", ReadOnlyLock)
    elif case == "a block's checkpoint":  # its second checkpoint fails, at step 200
        monkeypatch.setattr(blocks, "CHECKPOINT_EVERY", 100)
        fail_writes(monkeypatch, name, code, after=1)
    else:  # runs.csv: when the second block ends
        fail_writes(monkeypatch, name, code, after=int(name == "runs.csv"))
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.WRITE_FAILED
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"python -m sweep: error: cannot write {folder / name}: "
                                    f"{os.strerror(code)}"), err  # fmt: skip
    assert "Traceback" not in err and not list(tmp_path.rglob("*.partial"))
    if case == "a block's checkpoint":
        assert checkpoint.load(folder / name)[0] == 100
    if case == "runs.csv":
        assert rows_of(folder) == rows_of(finished)[: len(TINY.methods) * TINY.seeds]
    if case == "summary.md":
        assert rows_of(folder) == rows_of(finished)
    monkeypatch.undo()  # the disk has room again: the same command ends the sweep
    if case != "the folder":
        assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK
        assert rows_of(folder) == rows_of(finished)


def test_a_read_only_folder_is_one_line_and_exit_5(finished, tmp_path, capsys):
    folder = shutil.copytree(finished, tmp_path / "sweep")
    (folder / "summary.md").unlink()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        pass
    else:
        folder.chmod(0o755)
        pytest.skip("this user writes into read-only folders (root)")
    try:
        capsys.readouterr()
        assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.WRITE_FAILED
    finally:
        folder.chmod(0o755)
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(f"python -m sweep: error: cannot write {folder}/")
    assert err.splitlines()[-1].endswith(f": {os.strerror(errno.EACCES)}")
    assert rows_of(folder) == rows_of(finished)


def test_ctrl_c_while_the_modules_load_exits_130_in_at_most_one_line(tmp_path):
    # python -m sweep with tqdm's import held up, so that the signal surely lands in it
    slow_import = textwrap.dedent("""
        import importlib.abc, runpy, sys, time
        class Slow(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "tqdm":
                    print("importing", flush=True)
                    time.sleep(60)
        sys.meta_path.insert(0, Slow())
        sys.argv[0] = "sweep"
        runpy.run_module("sweep", run_name="__main__", alter_sys=True)
    """)  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", slow_import, "--grid", "tiny", "--out", str(tmp_path / "sweep")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline() == "importing\n"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 128 + signal.SIGINT, stderr
    assert stderr.count("\n") <= 1 and "Traceback" not in stderr, stderr
    assert not (tmp_path / "sweep").exists()


def test_ctrl_c_while_the_summary_is_written_finishes_it_and_exits_130(
    finished, tmp_path, monkeypatch, capsys
):
    folder = shutil.copytree(finished, tmp_path / "sweep")
    (folder / "summary.md").unlink()
    main_module = sys.modules["sweep.__main__"]
    markdown = main_module.markdown

    def interrupted(summary, metrics):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, caught by the sweep's StopRequest
        return markdown(summary, metrics)

    monkeypatch.setattr(main_module, "markdown", interrupted)
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "python -m sweep: interrupted as it ended; the sweep is whole"
    assert files_of(folder) == files_of(finished)


def test_the_continue_hint_is_shell_quoted_and_continues_the_sweep(
    finished, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "my sweeps" / "it's $HOME"
    main_module = sys.modules["sweep.__main__"]
    train_block = main_module.train_block

    def interrupted(*args):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C as the first block starts
        return train_block(*args)

    monkeypatch.setattr(main_module, "train_block", interrupted)
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == 128 + signal.SIGINT
    said = capsys.readouterr().err.splitlines()[-1]
    assert said.startswith("python -m sweep: interrupted; 0 of 4 blocks done; block ring, "
                           "d_steps 1, checkpointed; continue with: ")  # fmt: skip
    command = shlex.split(said.partition("continue with: ")[2])
    assert command == ["python", "-m", "sweep", "--grid", "tiny", "--out", str(folder)]
    assert checkpoint.load(folder / "block-ring-d1.npz")[0] == 1  # the step it stopped at
    monkeypatch.undo()
    assert sweep_main(command[3:]) == exits.OK
    assert rows_of(folder) == rows_of(finished)


def test_an_error_is_said_on_its_own_line_after_the_progress_bar(finished, tmp_path, capsys):
    folder = shutil.copytree(finished, tmp_path / "sweep")
    (folder / "runs.csv").unlink()
    (folder / "block-ring-d1.npz").write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.BAD_ARGUMENTS
    said = capsys.readouterr().err.splitlines()[-1]
    assert said.startswith(f"python -m sweep: error: {folder / 'block-ring-d1.npz'} is not a ")
    assert said.endswith("; remove it to train the block afresh")


def test_ctrl_c_while_compiling_is_said_at_once_and_a_second_stops_at_once(finished, tmp_path):
    # A cold Numba cache: the first step compiles for tens of seconds. The first Ctrl-C is
    # acknowledged at once, below the progress bar; the second ends the sweep at once with
    # the command that continues it, which then ends with the rows of the whole sweep.
    folder = tmp_path / "my sweep"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sweep", "--grid", "tiny", "--out", str(folder)],
        cwd=REPO, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stderr.readline().startswith("compiling the fast kernels")
        time.sleep(1)  # into the compiling
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        while (said := process.stderr.readline()) != blocks.COMPILING[1:] + "\n":
            assert said, "the sweep ended without saying it would stop"  # past the bar's lines
        assert time.monotonic() - sent < 2, "not at once"
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == exits.SIGNAL + signal.SIGINT
        assert time.monotonic() - sent < 5, "not at once"
        rest = process.stderr.read().splitlines()
    finally:
        process.kill()
        process.wait()
    command = shlex.join(["python", "-m", "sweep", "--grid", "tiny", "--out", str(folder)])
    assert rest[-1] == f"python -m sweep: stopped at once; continue with: {command}"
    assert "Traceback" not in "\n".join(rest)
    assert {path.name for path in folder.iterdir()} == {"sweep.json"}
    assert sweep_main(shlex.split(command)[3:]) == exits.OK
    assert rows_of(folder) == rows_of(finished)


@pytest.mark.parametrize("damage", ["unreadable", "another block's"])
def test_a_damaged_checkpoint_of_a_later_block_is_refused_before_anything_trains(
    finished, tmp_path, capsys, damage
):
    # runs.csv lacks every block; the last block's checkpoint is damaged or another's: the
    # sweep refuses it before training the first block, touching nothing.
    folder = shutil.copytree(finished, tmp_path / "sweep")
    (folder / "runs.csv").unlink()
    path = folder / "block-circle-d2.npz"
    if damage == "unreadable":
        path.write_bytes(b"not a checkpoint")
    else:
        members = grids.block_members(TINY, "ring", 1)
        population = fast_gan.PopulationConfig(tuple(config for _, config in members))
        state = fast_gan.init_state(population, "cpu")
        checkpoint.save(path, 0, blocks.block_arguments(population),
                        checkpoint.population_arrays(state))  # fmt: skip
    before = files_of(folder)
    capsys.readouterr()
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.BAD_ARGUMENTS
    said = capsys.readouterr().err.splitlines()[-1]
    why = "is not a readable" if damage == "unreadable" else "is the checkpoint of another block"
    assert said.startswith(f"python -m sweep: error: {path} {why}")
    assert files_of(folder) == before


def test_a_folder_left_before_its_sweep_json_is_taken_by_the_same_command(finished, tmp_path):
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / ".lock").write_text("4242\n")
    (folder / ".sweep.json.4242-0badc0de.partial").write_text('{"argu')
    assert sweep_main(["--grid", "tiny", "--out", str(folder)]) == exits.OK
    assert rows_of(folder) == rows_of(finished)
    assert not list(folder.glob(".*.partial"))
