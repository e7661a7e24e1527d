"""Figure 9: stabilisation, measured. The sweep's cells (sweep/__main__.py: every method over
datasets, discriminator strengths and seeds) as a function of the method: the success rate
(every mode covered, no divergence) with its 95% Wilson interval, and the high-quality
fraction and reverse KL as mean ± standard error over the seeds.

The full figure plots the committed small grid, docs/sweep-small/summary.csv (made by
`python -m sweep --grid small --out docs/sweep-small`, too long to rerun inside
`python -m figures`), and beside it the penalties grid, the same
datasets, strengths and seeds with R1 and Roth's penalty as the methods
(docs/sweep-penalties, `--grid penalties`). A second PNG, stabilisation_full.png, plots
the full grid (docs/sweep-full, `--grid full`: four datasets, 16 seeds per cell).
Quick runs the tiny grid and plots that alone.
"""

import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import NullFormatter

from figures import style
from sweep import grids
from sweep.__main__ import main as sweep_main

NUMBER = 9
TITLE = "Stabilisation, measured: success, sample quality and mode balance per method"

DOCS = Path(__file__).resolve().parent.parent / "docs"
# (the grids one PNG plots together, its name): grid -> its committed folder
FIGURES = (
    ({"small": DOCS / "sweep-small", "penalties": DOCS / "sweep-penalties"}, "stabilisation.png"),
    ({"full": DOCS / "sweep-full"}, "stabilisation_full.png"),
)
# one look per discriminator strength, in the order the sweep has them
D_STEPS_LOOKS = ({"marker": "o", "color": "#000000"}, {"marker": "s", "color": "#009E73"})
PANELS = (  # (column of summary.csv, its error, the axis label, log scale)
    ("success_rate", None, "runs covering every mode", False),
    ("high_quality_fraction_mean", "high_quality_fraction_se", "high-quality fraction", False),
    ("reverse_kl_mean", "reverse_kl_se", "reverse KL (modes)", True),
)


def make(out_dir: Path, quick: bool) -> list[Path]:
    if quick:
        with tempfile.TemporaryDirectory() as scratch:
            sweep_main(["--grid", "tiny", "--out", str(Path(scratch) / "sweep")])
            cells = read(Path(scratch) / "sweep" / "summary.csv")
        style.save(draw(cells), out_dir / "stabilisation.png")
        return [out_dir / "stabilisation.png"]
    paths = []
    for folders, name in FIGURES:
        cells = []
        for grid, folder in folders.items():
            if not (folder / "summary.csv").exists():
                raise FileNotFoundError(f"{folder / 'summary.csv'} is missing: python -m "
                                        f"sweep --grid {grid} --out {folder}")  # fmt: skip
            cells += read(folder / "summary.csv")
        style.save(draw(cells), out_dir / name)
        paths.append(out_dir / name)
    return paths


def read(path: Path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def with_bars(cells: list[dict], name: str, error: str | None):
    """(values (N,), error bars) of a column of summary.csv over the cells: a rate's 95%
    Wilson interval (2, N), asymmetric, where error is None; else the error column (N,)."""
    values = np.array([float(cell[name]) for cell in cells])
    if error is None:
        low = values - np.array([float(cell["success_low"]) for cell in cells])
        high = np.array([float(cell["success_high"]) for cell in cells]) - values
        return values, np.stack([low, high])
    return values, np.nan_to_num([float(cell[error]) for cell in cells])


def draw(cells: list[dict]):
    """One row per dataset, one column per panel, the methods down the y axis (their names
    read across, however many there are), one marker per discriminator strength."""
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))
    methods = list(dict.fromkeys(c["method"] for c in cells))
    figure, axes = plt.subplots(len(datasets), len(PANELS), squeeze=False, sharey=True,
                                figsize=(style.WIDTH, 0.36 * len(methods) * len(datasets)
                                         + 1.6))  # fmt: skip
    d_steps_all = sorted({int(c["d_steps"]) for c in cells})
    y = np.arange(len(methods))
    penalties = [m for m in methods if grids.METHODS[m].get("penalty", "none") != "none"]
    for row, dataset in enumerate(datasets):
        for column, (name, error, label, log) in enumerate(PANELS):
            ax = axes[row, column]
            for k, (d_steps, look) in enumerate(zip(d_steps_all, D_STEPS_LOOKS, strict=False)):
                mine = {c["method"]: c for c in cells
                        if c["dataset"] == dataset and int(c["d_steps"]) == d_steps}  # fmt: skip
                if not mine:
                    continue
                shift = 0.2 * (k - (len(d_steps_all) - 1) / 2)
                x, bars = with_bars([mine[m] for m in methods], name, error)
                ax.errorbar(x, y + shift, xerr=bars, linestyle="none", capsize=2.5,
                            label=f"{d_steps} D step{'s' * (d_steps > 1)} per G step",
                            **look)  # fmt: skip
            ax.set_xscale("log" if log else "linear")
            if log:  # on a short log range matplotlib labels minor ticks, which collide
                ax.xaxis.set_minor_formatter(NullFormatter())
            if penalties:  # noise and label noise above, the penalties below
                ax.axhline(methods.index(penalties[0]) - 0.5, color="0.6", linewidth=0.8,
                           linestyle=":")  # fmt: skip
            if error is None:
                ax.set_xlim(-0.05, 1.05)
            if row == 0:
                ax.set_title(label)
            if column == 0:
                ax.set_ylabel(dataset)
            ax.grid(axis="x", alpha=0.3)
        axes[row, 0].set_yticks(y, [m.replace(" -> ", " → ") for m in methods], fontsize=8)
    axes[0, 0].invert_yaxis()  # the sweep's first method on top (shared by every panel)
    runs = int(cells[0]["runs"])
    title = (f"Each method over {runs} seeds per cell: success rate with its 95% interval, "
             "the others mean ± standard error")  # fmt: skip
    handles, labels = axes[0, 0].get_legend_handles_labels()
    return titled(figure, title, handles, labels, len(labels), legend_inches=0.45)


def titled(figure, title: str, handles, labels, columns: int, legend_inches: float):
    """The figure with its title above and the legend of handles below, each given its room
    in inches whatever the figure's height."""
    figure.suptitle(title)
    height = figure.get_figheight()
    figure.tight_layout(rect=(0, legend_inches / height, 1, 1 - 0.35 / height))
    figure.legend(handles, labels, loc="lower center", ncol=columns, frameon=False)
    return figure
