"""Figure 11: generated 8x8 digits at the end of training, one row per method of the digits
grid (sweep/grids.py), under a row of real training digits, each row with its metrics
(reference/metrics.py: digits covered, confident fraction, reverse KL of the class
histogram, mean confidence, digits FID).

The rows are one population of fast/gan.py on the CPU, GAN p the digits grid's run of
method p with seed SEED and D_STEPS discriminator steps: bit for bit those runs of
docs/sweep-digits, whose summary.md measures every method over 8 seeds. Quick trains the
same methods on a tiny budget.
"""

import dataclasses
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from fast import gan as fast_gan
from fast import metrics as fast_metrics
from figures import samples, style
from sweep import grids

NUMBER = 11
TITLE = "Generated digits at the end of training, one row per method"

GRID = grids.GRIDS["digits"]
SEED, D_STEPS = 0, 5
SHOWN = 16  # digits per row
QUICK = dict(steps=40, batch=32, hidden=16)


def make(out_dir: Path, quick: bool) -> list[Path]:
    members = [(method, config) for method, config in
               grids.block_members(GRID, "digits", D_STEPS) if config.seed == SEED]  # fmt: skip
    if quick:
        members = [(method, dataclasses.replace(config, **QUICK, anneal_steps=QUICK["steps"]))
                   for method, config in members]  # fmt: skip
    population = fast_gan.PopulationConfig(tuple(config for _, config in members))
    state = fast_gan.init_state(population, "cpu")
    for _ in fast_gan.train(population, state):
        pass
    results, x_real, x_fake = fast_metrics.evaluate_generator(population, state.theta_G)
    path = out_dir / "generated_digits.png"
    style.save(draw([method for method, _ in members], population, results, x_real[0], x_fake),
               path)  # fmt: skip
    return [path]


def row_label(result: dict) -> str:
    return (f"{result['modes_captured']}/10 digits, {100 * result['high_quality_fraction']:.0f}%"
            f" confident, mean confidence {result['mean_confidence']:.2f},\nreverse KL "
            f"{result['reverse_kl']:.3f}, digits FID {result['frechet_distance']:.1f}")  # fmt: skip


def draw(methods, population, results, x_real: np.ndarray, x_fake: np.ndarray):
    """x_real: (N, 64) data; x_fake: (P, N, 64), one row per method."""
    rows = len(methods) + 1
    figure, axes = plt.subplots(rows, 1, figsize=(style.WIDTH, 0.75 * rows + 0.4))
    samples.draw_images(axes[0], x_real[:SHOWN], "", columns=SHOWN)
    axes[0].set_ylabel("data", rotation=0, ha="right", va="center")
    for axis, method, result, x in zip(axes[1:], methods, results, x_fake, strict=True):
        samples.draw_images(axis, x[:SHOWN], "", columns=SHOWN)
        axis.set_ylabel(method.replace(", ", ",\n"), rotation=0, ha="right", va="center",
                        fontsize=9)  # fmt: skip
        axis.text(1.01, 0.5, row_label(result), transform=axis.transAxes, va="center",
                  fontsize=8)  # fmt: skip
    base = population.base
    figure.suptitle(f"8x8 digits after {base.steps} steps, {base.d_steps} D steps per G step, "
                    f"seed {base.seed}: the first {SHOWN} of the evaluation samples")  # fmt: skip
    figure.tight_layout()
    return figure
