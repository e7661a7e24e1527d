"""Figure 3, instance noise, the classification view: figure 2's example (p = delta_-1, the
data; q = delta_+1, the generator; the family logit_{b,s}(x) = s tanh((b - x) / STEP_WIDTH)),
with instance noise of std sigma in SIGMAS on real and fake samples alike. The layout, axes and
colour scale are figure 2's (figures/label_noise.py), so the two can be set side by side.

Panels. (a) The noisy densities p_sigma and q_sigma (theory.noisy, theory.log_density): they
overlap. (b) The analytic optimum D*_sigma = p_sigma / (p_sigma + q_sigma)
(theory.optimal_discriminator), one curve per sigma, and on it the MLP discriminators trained
on noisy samples by reference/discriminator.fit from len(INIT_SEEDS) initialisations on the
same batches: every run finds the same discriminator. (c, d) The population loss
theory.expected_loss(P, Q, sigma, logit_{b,s}) over figure 2's (b, s) grid: a single bowl, its
minimum marked, and the set within NEAR of it outlined. (e) The best loss over s at each b,
against figure 2's flat valleys: a bowl whose bottom is the one boundary b = 0 that the
symmetric example allows. Smaller sigma gives a deeper, narrower bowl, on its way to figure 2's
valley as sigma -> 0: the reason noise is annealed, not switched off.

The family is not a model of D*_sigma (its logit, here -2 x / sigma^2, is a line, not a step),
so the bowl's floor sits above the Bayes-optimal loss log 2 - JS[p_sigma || q_sigma]; what the
figure shows is the shape: one minimum instead of a valley.

Shapes: x (N, 1); landscapes (n_s, n_b) as in figure 2.
Contract: make(out_dir, quick) writes instance_noise.png and returns [its path]; quick uses
figure 2's coarse grid and a few dozen training steps.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from figures import label_noise as figure_2
from figures import style
from reference import discriminator, loss, theory

NUMBER = 3
TITLE = "Instance noise: the noisy densities overlap, the loss has one minimum, training finds D*"

SIGMAS = (0.5, 1.0)  # 1.0 as in figures 4, 6 and 7; 0.5 on the way to annealing it away
SHADES = (0.25, 0.75)  # each sigma's place on the sequential palette
# reference/discriminator.fit with the settings of tests/test_claims_discriminator.py and one
# data seed, so that the runs differ in their initialisation only.
HIDDEN, LR, DATA_SEED = 16, 1e-2, 7
INIT_SEEDS = (0, 1, 2, 3)
FIT_BUDGET = {False: (1000, 256), True: (40, 16)}  # quick -> (steps, batch)
OPTIMUM = {"color": "0.78", "linewidth": 6.0, "solid_capstyle": "butt"}  # D*: wide, light grey
TRAINED = {**figure_2.line_look("instance noise"), "linewidth": 1.4}  # thin, on top of D*


def shade(k: int):
    """The colour of SIGMAS[k] on the sequential palette."""
    return plt.get_cmap(style.SEQUENCE)(SHADES[k])


def draw_noisy_densities(axes) -> None:
    """p_sigma (REAL) and q_sigma (FAKE) for every sigma, told apart by line style, over the
    faded point masses they come from."""
    figure_2.draw_point_masses(axes, alpha=0.5)
    x = np.linspace(*figure_2.X_RANGE, 401)[:, None]
    styles = ("--", "-")  # one per sigma: the widest drawn solid and filled
    for sigma, linestyle in zip(SIGMAS, styles, strict=True):
        for mixture, colour in ((figure_2.P, style.REAL), (figure_2.Q, style.FAKE)):
            density = np.exp(theory.log_density(theory.noisy(mixture, sigma), x))
            axes.plot(x[:, 0], density, color=colour, linestyle=linestyle, linewidth=2.0)
            if sigma == max(SIGMAS):
                axes.fill_between(x[:, 0], density, color=colour, alpha=0.15, linewidth=0)
    # Named on the widest densities' outer shoulders, where nothing else is drawn.
    axes.text(-2.3, 0.2, r"$p_\sigma$", color=style.REAL, ha="right", fontsize=12)
    axes.text(2.3, 0.2, r"$q_\sigma$", color=style.FAKE, ha="left", fontsize=12)
    handles = [
        Line2D([], [], color="black", linestyle=linestyle, label=f"σ = {sigma:g}")
        for sigma, linestyle in zip(SIGMAS, styles, strict=True)
    ]
    axes.legend(handles=handles, loc="center right")
    axes.set_title("(a) instance noise: the supports overlap")


def draw_optimum_and_fits(axes, quick: bool) -> None:
    """D*_sigma (wide grey) under the trained MLPs' D(x) (instance noise's colour and style)."""
    x = np.linspace(*figure_2.X_RANGE, 401)[:, None]
    steps, batch = FIT_BUDGET[quick]
    for sigma in SIGMAS:
        d_star = theory.optimal_discriminator(figure_2.P, figure_2.Q, sigma, x)
        axes.plot(x[:, 0], d_star, **OPTIMUM)
        # Each optimum named to its left, where the other curve does not pass: the wider
        # (flatter) one is the outer curve above D = 1/2, the narrower one below it.
        level = 0.85 if sigma == max(SIGMAS) else 0.25
        at = int(np.argmin(np.abs(d_star - level)))
        axes.text(x[at, 0] - 0.25, level, f"σ = {sigma:g}", color="0.35", va="center", ha="right")
        for seed in INIT_SEEDS:
            fitted = discriminator.fit(
                figure_2.P, figure_2.Q, sigma, steps, batch, HIDDEN, LR, seed, DATA_SEED
            )
            axes.plot(x[:, 0], loss.sigmoid(fitted.logit(x)), **TRAINED)
    handles = [
        Line2D([], [], label=r"$D^*_\sigma$, analytic", **OPTIMUM),
        Line2D([], [], label=f"trained,\n{len(INIT_SEEDS)} runs each", **TRAINED),
    ]
    axes.legend(handles=handles, **figure_2.DISCRIMINATOR_LEGEND)
    figure_2.finish_discriminators(axes, "(b) every trained discriminator lies on $D^*$")


def make(out_dir: Path, quick: bool) -> list[Path]:
    figure, panels = figure_2.layout(TITLE)
    draw_noisy_densities(panels["a"])
    draw_optimum_and_fits(panels["b"], quick)

    boundaries, confidences = figure_2.grids(quick)
    marker = style.METHODS["instance noise"]["marker"]
    for k, (sigma, letter) in enumerate(zip(SIGMAS, "cd", strict=True)):
        noisy = figure_2.landscape(sigma, 0.0, quick)
        image = figure_2.draw_landscape(
            panels[letter], noisy, quick, f"({letter}) loss, instance noise σ = {sigma:g}"
        )
        row, column = np.unravel_index(np.argmin(noisy), noisy.shape)
        figure_2.mark(panels[letter], boundaries[column], confidences[row], marker)
        figure_2.draw_profile(
            panels["e"],
            noisy,
            quick,
            f"instance noise σ = {sigma:g}",
            {**style.METHODS["instance noise"], "color": shade(k)},
        )
    figure_2.draw_colour_bar(figure, image, panels)
    for method, flip, name in (
        ("no noise", 0.0, "no noise"),
        ("label noise", figure_2.FLIP, f"label noise ε = {figure_2.FLIP:g} (figure 2)"),
    ):
        figure_2.draw_profile(
            panels["e"],
            figure_2.landscape(0.0, flip, quick),
            quick,
            name,
            {**style.METHODS[method], "alpha": 0.5},
        )
    figure_2.finish_profile(panels["e"])

    path = out_dir / "instance_noise.png"
    style.save(figure, path)
    return [path]
