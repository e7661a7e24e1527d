"""Figure 8, the learned noisy discriminator against the analytic likelihood ratio.

On the line, the data p is an atom at -0.6 and a narrow Gaussian (std 0.05) at 0.2, the
model q an atom at 0.7: disjoint supports without noise, the configuration of
tests/test_claims_discriminator.py's trend test. With instance noise of std sigma the
Bayes-optimal logit is finite, l*_sigma = log p_sigma - log q_sigma (theory.optimal_logit),
and a discriminator trained by reference/discriminator.py (the GAN's discriminator substep
with the generator frozen) should learn it where p_sigma + q_sigma has its mass.

Panels. Top row, one column per sigma in SIGMAS: over l*_sigma, the band from the lowest to
the highest logit of `seeds` fits, at the smallest and at the largest budget; shaded, the
high-density region (theory.high_density_region, MASS of m_sigma's mass) where they are
compared. Bottom row: p_sigma and q_sigma, the densities the discriminator tells apart.
Right: the gap, the mean |logit - l*_sigma| over that region, against the training budget
N = steps * batch (samples of each class), for every sigma, with its range over the seeds.
At the larger budgets it falls at about 1 / sqrt(N) (the dotted guide), the rate of a
log-odds estimated from N samples; smaller noise makes l*_sigma steeper and more curved,
the gap larger at every budget, and the smallest budgets (75 and 150 steps) too short to
fit it.

Shapes: the comparison grid x (N_x, 1) and its mask (N_x,); logits (seeds, N_x); gaps
(len(SIGMAS), len(budgets), seeds).
Contract: make(out_dir, quick) writes learned_discriminator.png and returns [its path];
quick trains two seeds on two tiny budgets.
"""

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from figures import style
from reference import data, discriminator, theory

NUMBER = 8
TITLE = "The trained noisy discriminator learns the analytic likelihood ratio"

DATA = data.mixture([[-0.6], [0.2]], [0.0, 0.05])  # an atom and a narrow Gaussian
MODEL = data.mixture([[0.7]], 0.0)  # an atom
SIGMAS = (0.35, 0.7, 1.4)
HIDDEN, LR = 16, 1e-2  # as tests/test_claims_discriminator.py
MASS = 0.9  # compare where m_sigma has 90% of its mass, as the tests do
TRAINED = style.METHODS["instance noise"]
OPTIMUM = {"color": "#999999", "linewidth": 4.0}  # wide and light, as in figure 1
REGION = "#E8E8E8"  # the background of the region where the logits are compared
SIGMA_LOOKS = ({"marker": "o", "linestyle": "-"}, {"marker": "s", "linestyle": "--"},
               {"marker": "^", "linestyle": "-."})  # fmt: skip


@dataclass(frozen=True)
class Budget:
    budgets: tuple  # (steps, batch) pairs, smallest first
    seeds: int  # fit k starts from init seed k and draws its batches from data seed 100 + k


# Steps and batch both double from rung to rung: 4x the samples each time, 256x in all.
FULL = Budget(budgets=((75, 16), (150, 32), (300, 64), (600, 128), (1200, 256)), seeds=5)
QUICK = Budget(budgets=((20, 16), (40, 32)), seeds=2)


def fit_all(sigma: float, budget: Budget) -> list[list]:
    """[rung of the budget][seed] -> FittedDiscriminator, at instance noise sigma."""
    return [
        [
            discriminator.fit(DATA, MODEL, sigma, steps, batch, HIDDEN, LR, seed, 100 + seed)
            for seed in range(budget.seeds)
        ]
        for steps, batch in budget.budgets
    ]


def runs(x: np.ndarray, inside: np.ndarray) -> list[tuple[float, float]]:
    """The maximal intervals (lo, hi) of the grid x (N, 1) where inside (N,) holds."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(int), [0]])))
    starts, ends = edges[::2], edges[1::2]
    return [(float(x[a, 0]), float(x[b - 1, 0])) for a, b in zip(starts, ends, strict=True)]


def draw_logits(axes, sigma: float, fits: list, x, inside) -> None:
    """Over l*_sigma, the band of the trained logits at the smallest and at the largest
    budget, on the compared region (shaded) and half a sigma around it."""
    for lo, hi in runs(x, inside):
        axes.axvspan(lo, hi, color=REGION, zorder=0)
    lo, hi = x[inside, 0].min() - 0.5 * sigma, x[inside, 0].max() + 0.5 * sigma
    shown = x[(x[:, 0] >= lo) & (x[:, 0] <= hi)]
    # The wide band of the smallest budget under the optimum, the narrow one of the largest
    # over it, or the optimum's width would hide it.
    for rung, alpha, zorder in ((0, 0.3, 1), (-1, 0.75, 3)):
        logits = np.array([fitted.logit(shown) for fitted in fits[rung]])  # (seeds, N_x)
        axes.fill_between(shown[:, 0], logits.min(axis=0), logits.max(axis=0), alpha=alpha,
                          color=TRAINED["color"], linewidth=0, zorder=zorder)  # fmt: skip
    axes.plot(shown[:, 0], theory.optimal_logit(DATA, MODEL, sigma, shown), zorder=2, **OPTIMUM)
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.set_xlim(lo, hi)
    axes.set_title(f"σ = {sigma:g}")


def draw_densities(axes, sigma: float, x) -> None:
    """p_sigma and q_sigma over the logit panel's x range (the column shares it)."""
    log_p, log_q = theory.noisy_log_densities(DATA, MODEL, sigma, x)
    for log_density, colour, hatch, linestyle in ((log_p, style.REAL, "//", "-"),
                                                  (log_q, style.FAKE, "..", "--")):  # fmt: skip
        axes.fill_between(x[:, 0], np.exp(log_density), color=colour, alpha=0.25, hatch=hatch,
                          edgecolor=colour, linewidth=0.0)  # fmt: skip
        axes.plot(x[:, 0], np.exp(log_density), color=colour, linestyle=linestyle, linewidth=1.2)
    axes.set_ylim(bottom=0.0)
    axes.set_xlabel("x")


def draw_gaps(axes, gaps: np.ndarray, budget: Budget) -> None:
    """gaps (len(SIGMAS), len(budgets), seeds): mean and range against N, log-log, with a
    1 / sqrt(N) guide."""
    samples = np.array([steps * batch for steps, batch in budget.budgets], dtype=float)
    colours = plt.get_cmap(style.SEQUENCE)(np.linspace(0.0, 0.8, len(SIGMAS)))
    for sigma, gap, colour, look in zip(SIGMAS, gaps, colours, SIGMA_LOOKS, strict=True):
        axes.fill_between(samples, gap.min(axis=1), gap.max(axis=1), color=colour, alpha=0.2,
                          linewidth=0)  # fmt: skip
        axes.plot(samples, gap.mean(axis=1), color=colour, label=f"σ = {sigma:g}", **look)
    # The guide runs parallel to the top curve's last stretch, just above it.
    guide = 1.5 * gaps[0, -1].mean() * np.sqrt(samples[-1] / samples)
    axes.plot(samples, guide, color="black", linestyle=":", linewidth=1.2, label="∝ 1/√N")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("training samples per class, N = steps × batch")
    axes.set_ylabel("mean |logit − l*_σ| over the shaded region")
    axes.set_title("the gap shrinks with the budget\n(bands: range over the seeds)")
    axes.legend(loc="lower left")


def legend_entries(budget: Budget) -> list:
    """Handles for the figure's legend: what the logit and density panels draw."""
    (small_steps, small_batch), (large_steps, large_batch) = budget.budgets[0], budget.budgets[-1]
    return [
        Line2D([], [], label="l*_σ = log p_σ − log q_σ (theory)", **OPTIMUM),
        Patch(color=TRAINED["color"], alpha=0.3, label=f"trained logit, {budget.seeds} seeds: "
              f"{small_steps} steps × batch {small_batch}"),
        Patch(color=TRAINED["color"], alpha=0.75, label=f"trained logit, {budget.seeds} seeds: "
              f"{large_steps} steps × batch {large_batch}"),
        Patch(color=REGION, label=f"compared: {MASS:.0%} of (p_σ + q_σ) / 2"),
        Patch(facecolor=style.REAL, alpha=0.4, hatch="//", label="p_σ (data)"),
        Patch(facecolor=style.FAKE, alpha=0.4, hatch="..", label="q_σ (model)"),
    ]  # fmt: skip


def make(out_dir: Path, quick: bool) -> list[Path]:
    budget = QUICK if quick else FULL
    shape = {"height_ratios": [2.4, 1.0], "width_ratios": [1.0] * len(SIGMAS) + [1.35]}
    figure, axes = plt.subplots(2, len(SIGMAS) + 1, figsize=(style.WIDTH, 6.6), sharex="col",
                                layout="constrained", gridspec_kw=shape)  # fmt: skip
    gaps = []  # [sigma][rung][seed]
    for column, sigma in enumerate(SIGMAS):
        fits = fit_all(sigma, budget)
        x, inside = theory.high_density_region(DATA, MODEL, sigma, MASS)
        optimal = theory.optimal_logit(DATA, MODEL, sigma, x[inside])
        gaps.append([[np.mean(np.abs(fitted.logit(x[inside]) - optimal)) for fitted in rung]
                     for rung in fits])  # fmt: skip
        draw_logits(axes[0, column], sigma, fits, x, inside)
        draw_densities(axes[1, column], sigma, x)
    axes[0, 0].set_ylabel("logit of D(x)")
    axes[1, 0].set_ylabel("density")
    # The gap panel spans both rows of the last column.
    for spare in axes[:, -1]:
        spare.remove()
    draw_gaps(figure.add_subplot(axes[0, 0].get_gridspec()[:, -1]), np.array(gaps), budget)
    figure.legend(handles=legend_entries(budget), loc="outside lower center", ncols=3)
    figure.suptitle(TITLE)
    path = out_dir / "learned_discriminator.png"
    style.save(figure, path)
    return [path]
