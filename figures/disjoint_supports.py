"""Figure 1, disjoint supports: many perfect discriminators, each pushing the generator its
own way; with instance noise, one discriminator, the optimal one.

The data p is the circle of radius 2 (the 'circle' dataset), the model q a segment inside
it: N(0, SEGMENT_STD^2) along x1 at x2 = SEGMENT_HEIGHT, with no spread along x2. Both are
curves in the plane, so their supports are disjoint. Discriminators are trained on them by
reference/discriminator.py (the GAN's discriminator substep with the generator frozen) from
`inits` initialisations that share every batch.

Panels. Top row, no noise: three of the fits (those whose updates, right, are the largest,
the median and the smallest), each with D(x) shaded, its boundary D = 1/2 and, at points of
the segment, the push it gives the generator's samples: the input gradient of its logit,
which the generator ascends, drawn to one scale in every map. Every fit separates the
supports (its final loss is in the title, against an optimum of 0), yet they push with
very different strengths. Bottom row, instance noise of std SIGMA: the same initialisations
trained on p_sigma and q_sigma, over the optimal boundary D*_sigma = 1/2 and the optimal
pushes (theory.optimal_logit_gradient, with p_sigma of the circle from theory.noisy_circle).
Right: the generator's update, the mean push over the model's samples E_q[grad_x logit]
(its gradient for a shift of the segment), one arrow per fit. At the full budget the six
updates without noise differ 13-fold in size and by 40 degrees in direction; with noise
they lie within a factor 2 and 10 degrees of each other, along the optimal update. They
fall short of its size (a third to a half of it): at the segment D*_sigma is below 0.03,
so few real samples pin the logit's slope there, and the fits' slopes approach the optimum
only slowly as the budget grows (5 times the samples took one fit from 0.44 to 0.59 of it).

Shapes: map points (G * G, 2) on a G x G grid; ARROWS (A, 2) on the segment; the model's
samples for the update (UPDATE_SAMPLES, 2); a push (N, 2) per fit, an update (2,).
Contract: make(out_dir, quick) writes disjoint_supports.png and returns [its path]; quick
trains for a few dozen steps, on a coarse map grid, from three initialisations.
"""

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D

from figures import style
from reference import data, discriminator, loss, theory
from reference.philox import SubstepRandom, key_from_seed

NUMBER = 1
TITLE = "Disjoint supports: many perfect discriminators, each pushing the generator its own way"

DATA = data.get_dataset("circle")  # radius 2
SEGMENT_STD, SEGMENT_HEIGHT = 0.4, -0.3
MODEL = data.mixture([[0.0, SEGMENT_HEIGHT]], [[SEGMENT_STD, 0.0]])
SIGMA = 0.5  # the bottom row's instance noise: a quarter of the circle's radius
HIDDEN, LR, BATCH = 32, 1e-2, 128
DATA_SEED = 7  # every fit sees the same batches: the fits differ in their initialisation only
SHOWN_SEED, UPDATE_SEED = 11, 12  # the samples drawn on the maps; those the update averages
SHOWN = {"data": 300, "model": 150}
UPDATE_SAMPLES = 2000
SPAN = 2.0 * SEGMENT_STD  # arrows along x1 in [-SPAN, SPAN], 95% of the segment's mass
ARROWS = np.stack([np.linspace(-SPAN, SPAN, 9), np.full(9, SEGMENT_HEIGHT)], axis=1)  # (A, 2)
ARROW_SCALE = 12.0  # |grad_x logit| per unit of length on the maps: the largest push ~1.2
LIMIT = 2.45  # the maps cover [-LIMIT, LIMIT]^2, with room below the circle for the key
FAN_GAP = 2.0  # the update panel's two origins, this far apart along x1
MAPS = 3  # fits drawn as maps in each row
# D(x) from white (0) to mid grey (1): on the full grey scale the data would sit on black.
SHADES = ListedColormap(plt.get_cmap(style.HEAT_MAP)(np.linspace(0.0, 0.55, 256)))
TRAINED = {0.0: style.METHODS["no noise"], SIGMA: style.METHODS["instance noise"]}
NAMES = {0.0: "no noise", SIGMA: f"instance noise σ = {SIGMA:g}"}
OPTIMUM = {"color": "#999999", "linewidth": 4.0}  # wide and light, drawn under the fits


@dataclass(frozen=True)
class Budget:
    steps: dict  # sigma -> training steps: to near-zero loss without noise, towards D*_sigma
    inits: int  # initialisations, the first MAPS of them drawn as maps
    grid: int  # G: map points along each axis


FULL = Budget(steps={0.0: 600, SIGMA: 1500}, inits=6, grid=200)
QUICK = Budget(steps={0.0: 40, SIGMA: 40}, inits=MAPS, grid=40)


def fit_all(budget: Budget) -> dict:
    """{sigma: [FittedDiscriminator per initialisation]} for sigma = 0 and SIGMA."""
    return {
        sigma: [
            discriminator.fit(DATA, MODEL, sigma, steps, BATCH, HIDDEN, LR, seed, DATA_SEED)
            for seed in range(budget.inits)
        ]
        for sigma, steps in budget.steps.items()
    }


def model_samples(seed: int, n: int) -> np.ndarray:
    """(n, 2) noiseless samples of the model, from the seed's first substep."""
    return data.sample(MODEL, SubstepRandom(key_from_seed(seed), 0, 1), n)


def draw_pushes(axes, push: np.ndarray, **look):
    """push (A, 2) as arrows from the points ARROWS, ARROW_SCALE to a unit of length."""
    return axes.quiver(*ARROWS.T, *push.T, angles="xy", scale_units="xy", scale=ARROW_SCALE,
                       **look)  # fmt: skip


def draw_map(axes, fitted, sigma: float, grid: int, title: str, key: bool):
    """One fit: D(x) shaded, its boundary, the samples and its pushes at ARROWS; with noise,
    the optimal boundary and pushes under the fit's; key: draw the arrows' scale. Returns the
    shading, for the colour bar."""
    axis = np.linspace(-LIMIT, LIMIT, grid)
    points = np.stack(np.meshgrid(axis, axis, indexing="xy"), axis=-1).reshape(-1, 2)
    logit = fitted.logit(points).reshape(grid, grid)
    shading = axes.pcolormesh(axis, axis, loss.sigmoid(logit), cmap=SHADES, vmin=0.0,
                              vmax=1.0, shading="auto", rasterized=True)  # fmt: skip
    if sigma > 0:
        optimal = theory.optimal_logit(DATA, MODEL, sigma, points).reshape(grid, grid)
        axes.contour(axis, axis, optimal, levels=[0.0], colors=OPTIMUM["color"],
                     linewidths=OPTIMUM["linewidth"])  # fmt: skip
        draw_pushes(axes, theory.optimal_logit_gradient(DATA, MODEL, sigma, ARROWS),
                    color=OPTIMUM["color"], width=0.02, headwidth=2.2, headlength=2.5,
                    headaxislength=2.2)  # fmt: skip
    look = TRAINED[sigma]
    axes.contour(axis, axis, logit, levels=[0.0], colors=look["color"],
                 linestyles=look["linestyle"], linewidths=1.6)  # fmt: skip
    shown_data = data.sample(DATA, SubstepRandom(key_from_seed(SHOWN_SEED), 0, 0), SHOWN["data"])
    axes.scatter(*shown_data.T, s=5,
                 color=style.REAL, linewidths=0)  # fmt: skip
    axes.scatter(*model_samples(SHOWN_SEED, SHOWN["model"]).T, s=5, color=style.FAKE,
                 linewidths=0)  # fmt: skip
    arrows = draw_pushes(axes, fitted.input_gradient(ARROWS), color=style.FAKE, width=0.009)
    if key:
        axes.quiverkey(arrows, 0.13, 0.035, 5.0, "|∇ₓ logit| = 5", labelpos="E",
                       coordinates="axes", fontproperties={"size": 8})  # fmt: skip
    axes.set_xlim(-LIMIT, LIMIT)
    axes.set_ylim(-LIMIT, LIMIT)
    axes.set_aspect("equal")
    axes.set_title(title)
    return shading


def optimal_loss(sigma: float) -> float:
    """The Bayes-optimal loss log 2 - JS[p_sigma || q_sigma]: 0 for disjoint supports, by
    Monte Carlo with noise (standard error below 0.003, see theory.information_monte_carlo)."""
    if sigma == 0:
        return 0.0
    return theory.LOG_2 - theory.information_monte_carlo(DATA, MODEL, sigma, UPDATE_SEED,
                                                         UPDATE_SAMPLES)[0]  # fmt: skip


def updates(fits: dict) -> dict:
    """{sigma: (inits, 2)}: each fit's update E_q[grad_x logit], a mean over UPDATE_SAMPLES
    of the model's samples, and under the key "optimal" the optimal update for SIGMA (1, 2)."""
    x_model = model_samples(UPDATE_SEED, UPDATE_SAMPLES)
    result = {
        sigma: np.array([np.mean(fitted.input_gradient(x_model), axis=0) for fitted in fitted_list])
        for sigma, fitted_list in fits.items()
    }
    optimal = theory.optimal_logit_gradient(DATA, MODEL, SIGMA, x_model)
    result["optimal"] = np.mean(optimal, axis=0, keepdims=True)
    return result


def draw_updates(axes, update: dict) -> None:
    """Every update as an arrow, without noise from one origin and with noise from another
    beside it, over the optimal update; the initialisations without noise named at their
    tips. One scale on both axes, so that angles and lengths read true."""
    origins = {0.0: 0.0, SIGMA: FAN_GAP}
    axes.quiver(origins[SIGMA], 0.0, *update["optimal"][0], angles="xy", scale_units="xy",
                scale=1.0, color=OPTIMUM["color"], width=0.07, headwidth=2.0, headlength=2.2,
                headaxislength=2.0)  # fmt: skip
    for sigma, origin in origins.items():
        start = np.full(len(update[sigma]), origin)
        axes.quiver(start, 0.0 * start, *update[sigma].T, angles="xy", scale_units="xy",
                    scale=1.0, color=TRAINED[sigma]["color"], width=0.02)  # fmt: skip
    for k, tip in enumerate(update[0.0]):
        axes.annotate(str(k), tip, xytext=(0, -2), textcoords="offset points", fontsize=8,
                      ha="center", va="top")  # fmt: skip
    lowest = min(float(np.min(values[:, 1])) for values in update.values())
    axes.set_xlim(-0.5 * FAN_GAP, 1.5 * FAN_GAP)
    axes.set_ylim(1.08 * lowest - 0.2, 0.3)
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.set_aspect("equal")
    axes.set_xticks(list(origins.values()), ["no\nnoise", f"σ = {SIGMA:g}"])
    axes.set_ylabel("update along x₂ (along x₁: the same scale)")
    axes.set_title("the generator's update\nE_q[∇ₓ logit], one arrow\nper fit (numbers: init)")


def legend_entries() -> list:
    """Handles for the figure's legend: the samples, the boundaries, the pushes."""

    def line(look, **extra):
        return Line2D([], [], color=look["color"], linestyle=look.get("linestyle", "-"),
                      linewidth=look.get("linewidth", 1.6), **extra)  # fmt: skip

    return [
        Line2D([], [], marker="o", linestyle="none", color=style.REAL, label="data p: circle"),
        Line2D([], [], marker="o", linestyle="none", color=style.FAKE, label="model q: segment"),
        line({"color": style.FAKE}, marker=">", label="push of a trained D"),
        line(TRAINED[0.0], label=f"D = 1/2, trained: {NAMES[0.0]}"),
        line(TRAINED[SIGMA], label=f"D = 1/2, trained: {NAMES[SIGMA]}"),
        line(OPTIMUM, label="optimal D*_σ: D = 1/2, push, update"),
    ]


def make(out_dir: Path, quick: bool) -> list[Path]:
    budget = QUICK if quick else FULL
    fits = fit_all(budget)
    update = updates(fits)
    # The maps show the fits whose updates without noise are the largest, the median and the
    # smallest: the range the update panel shows for all of them.
    by_size = np.argsort(-np.linalg.norm(update[0.0], axis=1))
    shown = by_size[[0, len(by_size) // 2, -1]]
    figure, axes = plt.subplots(2, MAPS + 1, figsize=(style.WIDTH, 7.0), layout="constrained",
                                gridspec_kw={"width_ratios": [1] * MAPS + [0.8]})  # fmt: skip
    for row, sigma in enumerate(fits):
        for column, k in enumerate(shown):
            fitted = fits[sigma][k]
            final = float(np.mean(fitted.losses[-len(fitted.losses) // 10 :]))
            shading = draw_map(axes[row, column], fitted, sigma, budget.grid,
                               f"init {k}: loss {final:.2g}", key=row == column == 0)  # fmt: skip
        axes[row, 0].set_ylabel(f"{NAMES[sigma]}\n(optimal loss {optimal_loss(sigma):.2g})\n\nx₂")
    for axes_map in axes[-1, :MAPS]:
        axes_map.set_xlabel("x₁")
    # The update panel spans both rows of the last column.
    for spare in axes[:, MAPS]:
        spare.remove()
    draw_updates(figure.add_subplot(axes[0, 0].get_gridspec()[:, MAPS]), update)
    figure.colorbar(shading, ax=axes[-1, :MAPS], location="bottom", shrink=0.4, aspect=30,
                    label="D(x)")  # fmt: skip
    figure.legend(handles=legend_entries(), loc="outside lower center", ncols=3)
    figure.suptitle(TITLE)
    path = out_dir / "disjoint_supports.png"
    style.save(figure, path)
    return [path]
