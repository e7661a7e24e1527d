"""python -m figures: every figure runs end to end on its quick budget and writes non-empty
PNG files (parametrised over the list), and bad input exits 2 with one line, touching
nothing. The quantities the analytic figures plot are tested where they are computed
(tests/test_theory.py, tests/test_claims_*.py)."""

import pytest

from figures import __main__ as figures_cli

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
