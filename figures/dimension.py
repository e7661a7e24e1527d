"""Figure 10: the premise, measured. The ring on a thin plane of R^d for d = 2 ... 128: the
success rate (every mode covered, no divergence) with its 95% Wilson interval, the
high-quality fraction and the reverse KL (mean ± standard error over the seeds), against d,
one line per method, one row per discriminator strength.

The full figure plots the committed dimension grid, docs/sweep-dimension/summary.csv (made
by `python -m sweep --grid dimension --out docs/sweep-dimension`, too long to rerun inside
`python -m figures`). Instance noise's sigma there shrinks as sqrt(2 / d) (sweep/grids.py).
Quick runs the tiny-dimension grid and plots that.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator

from figures import stabilisation, style
from reference.data import get_dataset
from sweep import grids
from sweep.__main__ import main as sweep_main

NUMBER = 10
TITLE = "The premise: success, sample quality and mode balance against the data's dimension"

FOLDER = stabilisation.DOCS / "sweep-dimension"
PANELS = (  # (column of summary.csv, its error, the axis label, log scale)
    ("success_rate", None, "runs covering every mode", False),
    ("high_quality_fraction_mean", "high_quality_fraction_se", "high-quality fraction", False),
    ("reverse_kl_mean", "reverse_kl_se", "reverse KL (modes)", True),
)


def look(method: str) -> dict:
    """The style of a method of the sweep by its kind (figures/style.py METHODS)."""
    fields = grids.METHODS[method]
    if "penalty" in fields:
        kind = "gradient penalty"
    elif "anneal" in fields:
        kind = "annealed instance noise"
    elif "sigma0" in fields or grids.SCALED_SIGMA0 in fields:
        kind = "instance noise"
    elif fields:
        kind = "label noise"
    else:
        kind = "no noise"
    return style.METHODS[kind]


def make(out_dir: Path, quick: bool) -> list[Path]:
    if quick:
        with tempfile.TemporaryDirectory() as scratch:
            if sweep_main(["--grid", "tiny-dimension", "--out", str(Path(scratch) / "sweep")]):
                raise RuntimeError("python -m sweep --grid tiny-dimension failed")
            cells = stabilisation.read(Path(scratch) / "sweep" / "summary.csv")
    else:
        if not (FOLDER / "summary.csv").exists():
            raise FileNotFoundError(f"{FOLDER / 'summary.csv'} is missing: python -m sweep "
                                    f"--grid dimension --out {FOLDER}")  # fmt: skip
        cells = stabilisation.read(FOLDER / "summary.csv")
    path = out_dir / "dimension.png"
    style.save(draw(cells), path)
    return [path]


def draw(cells: list[dict]):
    """One row per discriminator strength, one column per panel, d on a log axis."""
    methods = list(dict.fromkeys(c["method"] for c in cells))
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))
    dims = np.array([get_dataset(name).dim for name in datasets])
    d_steps_all = sorted({int(c["d_steps"]) for c in cells})
    figure, axes = plt.subplots(len(d_steps_all), len(PANELS), squeeze=False, sharex=True,
                                figsize=(style.WIDTH, 2.9 * len(d_steps_all) + 1.2))  # fmt: skip
    for row, d_steps in enumerate(d_steps_all):
        for column, (name, error, label, log) in enumerate(PANELS):
            ax = axes[row, column]
            for method in methods:
                mine = {c["dataset"]: c for c in cells
                        if c["method"] == method and int(c["d_steps"]) == d_steps}  # fmt: skip
                y, bars = stabilisation.with_bars([mine[n] for n in datasets], name, error)
                shown = method.replace("sqrt(2/d)", "√(2/d)").replace(" -> ", " → ")
                ax.errorbar(dims, y, yerr=bars, capsize=2.5, markersize=4, label=shown,
                            **look(method))  # fmt: skip
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(FixedLocator(dims))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticklabels([str(d) for d in dims])
            if log:
                ax.set_yscale("log")
            if error is None:
                ax.set_ylim(-0.05, 1.05)
            if row == 0:
                ax.set_title(label)
            if row == len(d_steps_all) - 1:
                ax.set_xlabel("dimension d of the space the ring lies in")
            ax.grid(alpha=0.3)
        axes[row, 0].set_ylabel(f"{d_steps} D step{'s' * (d_steps > 1)} per G step")
    runs = int(cells[0]["runs"])
    title = (f"The ring in a plane of R^d, {runs} seeds per point: success rate with its 95% "
             "interval, the others mean ± standard error")  # fmt: skip
    handles, labels = axes[0, 0].get_legend_handles_labels()
    return stabilisation.titled(figure, title, handles, labels, 3, legend_inches=0.75)
