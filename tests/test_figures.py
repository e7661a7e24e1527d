"""python -m figures: every figure runs end to end on its quick budget and writes non-empty
PNG files (parametrised over the list); --quick without --out leaves the committed figures
alone, a full run writes them; bad input exits 2 with one line, touching nothing; Ctrl-C
sent to a real process, while it loads its libraries or in a figure, ends with one line
and status 130, leaving no temporary folder. The quantities the analytic figures plot are
tested where they are computed (tests/test_theory.py, tests/test_claims_*.py)."""

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cli import exits
from figures import __main__ as figures_cli

REPO = Path(__file__).resolve().parent.parent

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", figures_cli.NAMES)
def test_every_figure_runs_quickly_and_writes_an_image(tmp_path, name):
    assert figures_cli.main([name, "--quick", "--out", str(tmp_path)]) == 0
    written = sorted(tmp_path.iterdir())
    assert written and all(path.stat().st_size > 1000 for path in written)
    assert any(path.name == f"{name}.png" for path in written)
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG


def test_list_names_every_figure_once_in_order(capsys):
    assert figures_cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        f"{number}. {name}" for number, name in enumerate(figures_cli.NAMES, start=1)
    ]


@pytest.mark.parametrize("case", ["unknown name", "a file", "a missing folder"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    (tmp_path / "a_file").write_text("")
    out = {"unknown name": tmp_path, "a file": tmp_path / "a_file",
           "a missing folder": tmp_path / "nowhere"}[case]  # fmt: skip
    name = "moons" if case == "unknown name" else "dirac_gan"
    with pytest.raises(SystemExit) as exit_info:
        figures_cli.main([name, "--quick", "--out", str(out)])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("python -m figures: error: ")
    assert [path.name for path in tmp_path.iterdir()] == ["a_file"]


def files_of(folder: Path) -> dict:
    """The files directly in folder (not __pycache__): name -> (bytes, mtime in ns)."""
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns)
            for path in folder.iterdir() if path.is_file()}  # fmt: skip


def test_quick_without_out_writes_into_a_new_temporary_folder_not_figures(
    tmp_path, monkeypatch, capsys
):
    # graphical_models' quick budget is its full one (its figure is analytic), so were the
    # committed file replaced, only its time would change: the test costs nothing if it fails
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    committed = files_of(figures_cli.FOLDER)
    assert "graphical_models.png" in committed
    assert figures_cli.main(["graphical_models", "--quick"]) == 0
    assert files_of(figures_cli.FOLDER) == committed
    (scratch,) = tmp_path.iterdir()
    assert scratch.name.startswith("figures-quick-")
    assert [path.name for path in scratch.iterdir()] == ["graphical_models.png"]
    assert str(scratch) in capsys.readouterr().out


def test_a_full_run_writes_into_the_figures_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.setattr(figures_cli, "FOLDER", tmp_path)
    assert figures_cli.main(["graphical_models"]) == 0
    assert [path.name for path in tmp_path.iterdir()] == ["graphical_models.png"]


def interrupted(tmp_path: Path, name: str, ready) -> subprocess.CompletedProcess:
    """python -m figures NAME --quick --out tmp_path, sent SIGINT once ready(pid) holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "figures", name, "--quick", "--out", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None and not ready(process.pid):
        time.sleep(0.001)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def assert_one_line_and_130(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == exits.SIGNAL + signal.SIGINT == 130, result.stderr
    assert "Traceback" not in result.stderr and "KeyboardInterrupt" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("python -m figures: interrupted")


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc/PID/maps")
def test_ctrl_c_while_the_libraries_load_is_one_line_and_130(tmp_path):
    # NumPy's core is mapped once matplotlib starts loading it: the signal lands while
    # matplotlib and the figure's modules are still being imported (a second or so)
    def loading(pid: int) -> bool:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()

    result = interrupted(tmp_path, "graphical_models", loading)
    assert_one_line_and_130(result)
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_in_a_figure_is_one_line_and_130_and_leaves_no_temporary_folder(tmp_path):
    def drawing(pid: int) -> bool:
        return any(path.name.startswith(".training.") for path in tmp_path.iterdir())

    assert_one_line_and_130(interrupted(tmp_path, "training", drawing))
    assert list(tmp_path.iterdir()) == []
