"""Figure 2, label noise, the classification view: p = delta_-1 (the data) and q = delta_+1 (the
generator) on the line, disjoint supports, and the logistic loss of a family of
discriminators without noise and with labels flipped at rate FLIP.

The family is a smooth step from logit +s ('real') to -s ('fake') around a boundary b:

    logit_{b,s}(x) = s tanh((b - x) / STEP_WIDTH)

For |b| < ~1 - 2 STEP_WIDTH both atoms sit on the flat parts of the step, so the loss sees the
confidence s and not where the boundary lies, just as it sees only an MLP's values at the
supports. (An affine logit a (b - x) would not do: its two values at the atoms pin both
parameters, so label flipping would single one out, a property of that family, not of the
loss.) The generator's gradient at its atom does depend on b, which is what makes a valley of
equally good discriminators harmful.

Panels. (a) The data. (b) Discriminators from the valley, at the boundaries VALLEY (the
markers in c and d): without noise at confidence VALLEY_CONFIDENCE, near-optimal, and with
label flips at the best s of their column, optimal. They are as good as each other, yet their
slopes at the generator's atom, the gradient it would follow, differ by orders of magnitude.
(c, d) The population loss theory.expected_loss(P, Q, 0, logit_{b,s}, label_flip) over the
(b, s) grid on one colour scale, with the set within NEAR of the grid's best outlined. Without
noise it falls towards 0 as s grows, with no minimum; with flips it has a whole line of minima.
(e) The best loss over s at each b: flat across the valley in both, lifted from 0 to
log 2 - I(y~; x) = h(FLIP) by the flips.

Shapes: boundaries (n_b,), confidences (n_s,), a landscape (n_s, n_b), rows s.
Contract: make(out_dir, quick) writes label_noise.png and returns [its path]; quick uses a
coarse grid. figures/instance_noise.py draws figure 3 with this module's example, family,
grids, layout and colour scale, so that the two can be set side by side.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from figures import style
from reference import data, loss, theory

NUMBER = 2
TITLE = "Label noise: the loss landscape is lifted but keeps a flat valley of discriminators"

P = data.mixture([[-1.0]], 0.0)  # the data: a point mass at -1
Q = data.mixture([[1.0]], 0.0)  # the generator: a point mass at +1
STEP_WIDTH = 0.25
FLIP = 0.1  # the label-flip rate, as in figures 4 and 6
NEAR = 0.01  # "near-optimal": within this much loss of the grid's best
BOUNDARY_RANGE = (-2.0, 2.0)
CONFIDENCE_RANGE = (0.0, 8.0)  # s = 8: loss softplus(-8) = 3e-4 on separated atoms
LOSS_RANGE = (0.0, 1.0)  # the heat maps' colour scale; worse discriminators saturate it
X_RANGE = (-4.0, 4.0)  # the x axis of the data and discriminator panels
GRID_POINTS = {False: 121, True: 21}  # quick -> points along b and along s
VALLEY = (-0.5, 0.0, 0.5)  # panel (b)'s boundaries, all inside the valley
VALLEY_CONFIDENCE = 6.0  # no noise: loss softplus(-6) = 2.5e-3, inside the NEAR outline
VALLEY_MARKERS = ("<", "o", ">")  # one per VALLEY boundary, in panels b, c and d
# Panel (b)'s legend: small, right of the steps and above D = 0.1, where no curve passes in
# either figure.
DISCRIMINATOR_LEGEND = {
    "loc": "lower right",
    "bbox_to_anchor": (1.0, 0.16),
    "fontsize": 8,
    "handlelength": 1.6,
}


def logit_family(boundary: float, confidence: float):
    """The discriminator logit_{b,s}: x (N, 1) -> (N,)."""
    return lambda x: confidence * np.tanh((boundary - x[:, 0]) / STEP_WIDTH)


def grids(quick: bool) -> tuple[np.ndarray, np.ndarray]:
    """(boundaries (n_b,), confidences (n_s,)): the (b, s) grid of the landscapes."""
    n = GRID_POINTS[quick]
    return np.linspace(*BOUNDARY_RANGE, n), np.linspace(*CONFIDENCE_RANGE, n)


def landscape(sigma: float, label_flip: float, quick: bool) -> np.ndarray:
    """(n_s, n_b): the population loss of every logit_{b,s} on the grid, with instance noise
    sigma and labels flipped at rate label_flip."""
    boundaries, confidences = grids(quick)
    return np.array(
        [
            [theory.expected_loss(P, Q, sigma, logit_family(b, s), label_flip) for b in boundaries]
            for s in confidences
        ]
    )


def layout(title: str):
    """The grid both figures share: (figure, {panel letter: axes}). Left, the line x: (a) the
    data over (b) the discriminators; right, the parameters (b, s): (c, d) two landscapes
    over (e) the best loss at each b."""
    figure = plt.figure(figsize=(style.WIDTH, 7.2), layout="constrained")
    grid = figure.add_gridspec(2, 3, width_ratios=[1.15, 1.0, 1.0])
    panels = {"a": figure.add_subplot(grid[0, 0])}
    panels["b"] = figure.add_subplot(grid[1, 0], sharex=panels["a"])
    panels["c"] = figure.add_subplot(grid[0, 1])
    panels["d"] = figure.add_subplot(grid[0, 2], sharex=panels["c"], sharey=panels["c"])
    panels["e"] = figure.add_subplot(grid[1, 1:])
    figure.suptitle(title)
    return figure, panels


def draw_point_masses(axes, alpha: float = 1.0) -> None:
    """p and q as arrows of unit height (the usual picture of a point mass) on a density axis,
    each named beside its tip."""
    names = (r"$p = \delta_{-1}$" "\n(data)", r"$q = \delta_{+1}$" "\n(generator)")
    for mixture, colour, name, side in (
        (P, style.REAL, names[0], -1),
        (Q, style.FAKE, names[1], 1),
    ):
        x = float(mixture.means[0, 0])
        axes.annotate(
            "",
            xy=(x, 1.0),
            xytext=(x, 0.0),
            alpha=alpha,
            arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 2.5},
        )
        axes.text(
            x + 0.2 * side,
            0.97,
            name,
            color=colour,
            alpha=alpha,
            va="top",
            ha="left" if side > 0 else "right",
        )
    axes.set_xlim(*X_RANGE)
    axes.set_ylim(0.0, 1.08)
    axes.set_xlabel("x")
    axes.set_ylabel("density (arrows: point masses)")


def line_look(method: str) -> dict:
    """The method's colour and line style, without its marker: for curves drawn densely."""
    return {key: style.METHODS[method][key] for key in ("color", "linestyle")}


def finish_discriminators(axes, title: str) -> None:
    axes.set_xlim(*X_RANGE)
    axes.set_ylim(-0.03, 1.03)
    axes.set_xlabel("x")
    axes.set_ylabel("D(x) = P(real | x)")
    axes.set_title(title)


def draw_landscape(axes, loss_grid: np.ndarray, quick: bool, title: str):
    """The loss over (b, s) on the shared colour scale, the near-optimal set outlined in white
    and the atoms' positions on the b axis (dotted). Returns the image, for the colour bar."""
    boundaries, confidences = grids(quick)
    image = axes.pcolormesh(
        boundaries,
        confidences,
        loss_grid,
        cmap=style.SEQUENCE,
        vmin=LOSS_RANGE[0],
        vmax=LOSS_RANGE[1],
        shading="auto",
        rasterized=True,
    )
    axes.contour(
        boundaries,
        confidences,
        loss_grid,
        levels=[loss_grid.min() + NEAR],
        colors="white",
        linewidths=2.0,
    )
    draw_atom_lines(axes)
    axes.set_title(title)
    axes.set_xlabel("boundary b")
    axes.set_ylabel("confidence s")
    return image


def draw_atom_lines(axes) -> None:
    """Dotted verticals at p's and q's atoms, on an axis of boundaries b."""
    for mixture, colour in ((P, style.REAL), (Q, style.FAKE)):
        axes.axvline(float(mixture.means[0, 0]), color=colour, linewidth=1.5, linestyle=":")


def mark(axes, b: float, s: float, marker: str) -> None:
    """A discriminator's (b, s), white with a black edge to stand out on any colour."""
    axes.plot(
        b,
        s,
        marker=marker,
        markersize=9,
        markerfacecolor="white",
        markeredgecolor="black",
        linestyle="none",
        clip_on=False,
    )


def draw_colour_bar(figure, image, panels) -> None:
    bar = figure.colorbar(image, ax=[panels["c"], panels["d"]], extend="max", shrink=0.9)
    bar.set_label("population loss")
    bar.ax.axhline(theory.LOG_2, color="white", linewidth=1.5)
    bar.set_ticks([0.0, 0.25, 0.5, theory.LOG_2, 1.0], labels=["0", "0.25", "0.5", "log 2", "1"])


def draw_profile(axes, loss_grid: np.ndarray, quick: bool, label: str, look: dict) -> None:
    """The best loss over s at each boundary b: the floor of the landscape's valley."""
    boundaries, _ = grids(quick)
    axes.plot(
        boundaries,
        loss_grid.min(axis=0),
        label=label,
        linewidth=2.0,
        markevery=max(1, len(boundaries) // 12),
        **look,
    )


def finish_profile(axes) -> None:
    axes.axhline(theory.LOG_2, color="grey", linewidth=1.0)
    axes.text(
        0.0,
        theory.LOG_2 + 0.01,
        "log 2: D = 1/2 everywhere",
        ha="center",
        va="bottom",
        color="grey",
    )
    draw_atom_lines(axes)
    axes.set_xlim(*BOUNDARY_RANGE)
    axes.set_ylim(-0.02, 0.98)  # room for the legend above log 2
    axes.set_xlabel("boundary b")
    axes.set_ylabel("best loss over s")
    axes.set_title("(e) the valley's floor: the best loss at each b")
    axes.legend(loc="upper center", ncols=2)


def make(out_dir: Path, quick: bool) -> list[Path]:
    figure, panels = layout(TITLE)
    draw_point_masses(panels["a"])
    panels["a"].set_title("(a) disjoint supports")

    clean, flipped = landscape(0.0, 0.0, quick), landscape(0.0, FLIP, quick)
    image = draw_landscape(panels["c"], clean, quick, "(c) loss, no noise")
    draw_landscape(panels["d"], flipped, quick, f"(d) loss, label noise ε = {FLIP:g}")
    draw_colour_bar(figure, image, panels)
    panels["c"].text(0.0, 3.0, "no minimum:\nloss → 0\nas s → ∞", color="white", ha="center")
    panels["d"].text(0.0, 3.3, "a line of minima", color="white", ha="center")

    boundaries, confidences = grids(quick)
    x = np.linspace(*X_RANGE, 401)[:, None]
    for b, marker in zip(VALLEY, VALLEY_MARKERS, strict=True):
        column = int(np.argmin(np.abs(boundaries - b)))
        best = float(confidences[np.argmin(flipped[:, column])])  # the best s at this b
        for method, s, axes in (
            ("no noise", VALLEY_CONFIDENCE, panels["c"]),
            ("label noise", best, panels["d"]),
        ):
            d = loss.sigmoid(logit_family(b, s)(x))
            panels["b"].plot(x[:, 0], d, **line_look(method), linewidth=1.8)
            mark(axes, b, s, marker)
        mark(panels["b"], b, 0.5, marker)  # D = 1/2 at the boundary, whatever s
    handles = [
        Line2D([], [], **line_look(method), linewidth=1.8, label=name)
        for method, name in (
            ("no noise", "no noise"),
            ("label noise", f"label noise\nε = {FLIP:g}"),
        )
    ]
    finish_discriminators(panels["b"], "(b) the marked discriminators: equally good")
    panels["b"].legend(handles=handles, **DISCRIMINATOR_LEGEND)

    draw_profile(panels["e"], clean, quick, "no noise", style.METHODS["no noise"])
    draw_profile(
        panels["e"], flipped, quick, f"label noise ε = {FLIP:g}", style.METHODS["label noise"]
    )
    finish_profile(panels["e"])

    path = out_dir / "label_noise.png"
    style.save(figure, path)
    return [path]
