"""Figure 9: stabilisation, measured. The sweep's cells (fast/sweep.py: every method over
datasets, discriminator strengths and seeds) as a function of the method: the success rate
(every mode covered, no divergence) with its 95% Wilson interval, and the high-quality
fraction and reverse KL as mean ± standard error over the seeds.

The full figure plots the committed small grid, docs/sweep-small/summary.csv (made by
`python -m fast.sweep --grid small --out docs/sweep-small`, 14 minutes on 2 cores:
too long to rerun inside `python -m figures`); quick runs the tiny grid and plots that.
"""

import csv
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fast import sweep
from figures import style

NUMBER = 9
TITLE = "Stabilisation, measured: success, sample quality and mode balance per method"

SWEEP = Path(__file__).resolve().parent.parent / "docs" / "sweep-small"
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
            sweep.main(["--grid", "tiny", "--out", str(Path(scratch) / "sweep")])
            cells = read(Path(scratch) / "sweep" / "summary.csv")
    else:
        if not (SWEEP / "summary.csv").exists():
            raise FileNotFoundError(
                f"{SWEEP / 'summary.csv'} is missing: python -m fast.sweep --grid small "
                f"--out {SWEEP}"
            )
        cells = read(SWEEP / "summary.csv")
    path = out_dir / "stabilisation.png"
    style.save(draw(cells), path)
    return [path]


def read(path: Path) -> list[dict]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def draw(cells: list[dict]):
    datasets = list(dict.fromkeys(c["dataset"] for c in cells))
    methods = list(dict.fromkeys(c["method"] for c in cells))
    figure, axes = plt.subplots(len(PANELS), len(datasets), squeeze=False, sharex=True,
                                figsize=(style.WIDTH, 2.3 * len(PANELS) + 1.2))  # fmt: skip
    d_steps_all = sorted({int(c["d_steps"]) for c in cells})
    x = np.arange(len(methods))
    for column, dataset in enumerate(datasets):
        for row, (name, error, label, log) in enumerate(PANELS):
            ax = axes[row, column]
            for k, (d_steps, look) in enumerate(zip(d_steps_all, D_STEPS_LOOKS, strict=False)):
                mine = {c["method"]: c for c in cells
                        if c["dataset"] == dataset and int(c["d_steps"]) == d_steps}  # fmt: skip
                if not mine:
                    continue
                shift = 0.24 * (k - (len(d_steps_all) - 1) / 2)
                y = np.array([float(mine[m][name]) for m in methods])
                if error is None:  # a rate: its Wilson interval, asymmetric
                    low = y - np.array([float(mine[m]["success_low"]) for m in methods])
                    high = np.array([float(mine[m]["success_high"]) for m in methods]) - y
                    bars = np.stack([low, high])
                else:
                    bars = np.nan_to_num([float(mine[m][error]) for m in methods])
                ax.errorbar(x + shift, y, yerr=bars, linestyle="none", capsize=3,
                            label=f"{d_steps} D step{'s' * (d_steps > 1)} per G step",
                            **look)  # fmt: skip
            ax.set_yscale("log" if log else "linear")
            if row == 0:
                ax.set_title(dataset)
                ax.set_ylim(-0.05, 1.05)
            if column == 0:
                ax.set_ylabel(label)
            ax.grid(axis="y", alpha=0.3)
        labels = [textwrap.fill(m.replace(" -> ", " → "), 11) for m in methods]
        axes[-1, column].set_xticks(x, labels, fontsize=8)
    runs = int(cells[0]["runs"])
    figure.suptitle(f"Each method over {runs} seeds per cell: success rate with its 95% "
                    "interval, the others mean ± standard error")  # fmt: skip
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    return figure
