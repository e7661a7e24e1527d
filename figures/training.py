"""Figure 5: training with and without instance noise, where it matters.

The note's premise is a discriminator trained towards optimality. With one D step per G
step, noise-free training rarely fails on the ring (README), so this figure trains with five
(`--d-steps 5`), one seed in every row: without noise, with constant instance noise, and
with the noise annealed two ways, towards zero and to half its start. Rows are the runs,
columns steps; each panel is D(x) as a grey heat map under the data (style.REAL) and the
generated samples (style.FAKE), drawn as the metrics draw them (reference/metrics.py) and
titled with the modes captured and the high-quality fraction. training.gif shows the same
runs side by side, every GIF_EVERY steps.

Each run is fast/gan.py's training on the CPU, its parameters copied at the snapshot steps.
The schedules are methods of the sweep's grids, measured over their seeds in
docs/sweep-small/summary.md and docs/sweep-full/summary.md; seed 5 is one on which each
schedule's outcome is clear.
"""

import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter

from fast import gan as fast_gan
from figures import samples, style
from reference import metrics
from reference.config import GANConfig
from reference.data import get_dataset

NUMBER = 5
TITLE = "Training with and without instance noise, with a strong discriminator (--d-steps 5)"

BASE = GANConfig(dataset="ring", steps=3000, d_steps=5, seed=5)
RUNS = (  # (label, sigma0, anneal, anneal_steps): the rows
    ("no noise", 0.0, "none", 3000),
    ("instance noise, σ = 0.2", 0.2, "none", 3000),
    ("annealed to 0.002, exponential", 0.2, "exponential", 3000),
    ("annealed to 0.1, linear", 0.2, "linear", 6000),
)
COLUMNS = (0, 250, 1000, 2000, 3000)  # steps trained before each column's snapshot
GIF_EVERY = 100
QUICK = dict(steps=40, batch=32, hidden=16)  # the tests' tiny budget


def train_with_snapshots(config: GANConfig, at: set[int]) -> dict[int, tuple]:
    """{k: (theta_G, theta_D) float64 after k steps} for every k in at, from one fast run."""
    population = fast_gan.PopulationConfig.seeded(config, (config.seed,), (config.sigma0,))
    state = fast_gan.init_state(population, "cpu")

    def snapshot():
        return tuple(theta[0].astype(np.float64) for theta in (state.theta_G, state.theta_D))

    snapshots = {0: snapshot()} if 0 in at else {}
    for record in fast_gan.train(population, state):
        if record["step"] + 1 in at:
            snapshots[record["step"] + 1] = snapshot()
    return snapshots


def make(out_dir: Path, quick: bool) -> list[Path]:
    base = dataclasses.replace(BASE, **QUICK) if quick else BASE
    columns = tuple(round(k * base.steps / BASE.steps) for k in COLUMNS)
    frames = tuple(range(0, base.steps + 1, base.steps // 4 if quick else GIF_EVERY))
    scale = base.steps / BASE.steps
    configs = [dataclasses.replace(base, sigma0=s, anneal=a, anneal_steps=round(n * scale))
               for _, s, a, n in RUNS]  # fmt: skip
    runs = [train_with_snapshots(config, {*columns, *frames}) for config in configs]
    figure = grid_figure(configs, runs, columns)
    png = out_dir / "training.png"
    style.save(figure, png)
    gif = out_dir / "training.gif"
    animate(configs, runs, frames, gif)
    return [png, gif]


def panel(axes, config: GANConfig, snapshot: tuple, shown: int, grid: int) -> dict:
    """One run at one step: D(x) on a grid x grid heat map and `shown` samples of each kind;
    returns the generator's mode metrics at that step (all 2500 evaluation samples)."""
    theta_G, theta_D = snapshot
    x_real, x_fake = metrics.evaluation_samples(config, theta_G)
    samples.samples_on_the_plane(axes, config, theta_D, x_real, x_fake, shown, grid)
    axes.set_xticks([])
    axes.set_yticks([])
    return metrics.mode_metrics(get_dataset(config.dataset), x_fake)


def grid_figure(configs, runs, columns):
    rows = len(configs)
    figure, axes = plt.subplots(rows, len(columns), figsize=(style.WIDTH, 2.45 * rows + 0.4),
                                squeeze=False)  # fmt: skip
    for r, (config, run, (label, *_)) in enumerate(zip(configs, runs, RUNS, strict=True)):
        for c, step in enumerate(columns):
            result = panel(axes[r, c], config, run[step], shown=400, grid=160)
            sigma = config.sigma_at(min(step, config.steps - 1))
            axes[r, c].set_title(f"step {step}, σ = {sigma:.2g}\n"
                                 f"{result['modes_captured']}/{result['modes_total']} modes, "
                                 f"{100 * result['high_quality_fraction']:.0f}% HQ",
                                 fontsize=8)  # fmt: skip
        axes[r, 0].set_ylabel(label.replace(", ", ",\n", 1), fontsize=9)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=style.REAL, label="data"),
               plt.Line2D([], [], marker="x", linestyle="", color=style.FAKE,
                          label="generated")]  # fmt: skip
    figure.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
    figure.suptitle(f"{configs[0].dataset}, {configs[0].d_steps} D steps per G step, seed "
                    f"{configs[0].seed}; grey: D(x) from 0 (white) to 1 (black); HQ: "
                    "high-quality samples")  # fmt: skip
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    return figure


def animate(configs, runs, frames, path: Path) -> None:
    """training.gif: the runs side by side, one frame per snapshot step."""
    figure, axes = plt.subplots(1, len(configs), figsize=(10, 3.0))
    # an animation is saved without tight bounding boxes: set the margins here
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.78, wspace=0.06)

    def draw(step):
        for axis, config, run, (label, *_) in zip(axes, configs, runs, RUNS, strict=True):
            axis.clear()
            result = panel(axis, config, run[step], shown=300, grid=100)
            sigma = config.sigma_at(min(step, config.steps - 1))
            axis.set_title(f"{label}\nσ = {sigma:.2g}, {result['modes_captured']}/"
                           f"{result['modes_total']} modes", fontsize=8)  # fmt: skip
        figure.suptitle(f"step {step}", fontsize=10)

    animation = FuncAnimation(figure, draw, frames=frames)
    animation.save(path, writer=PillowWriter(fps=5), dpi=90)
    plt.close(figure)
