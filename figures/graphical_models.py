"""Figure 4, the graphical models: the three versions of the game as joint distributions over
a label y (a fair coin: real or fake), an instance x drawn from p or q_theta according to y,
and a corrupted copy, with the pair whose mutual information the GAN minimises highlighted.

    vanilla GAN      y -> x              minimise I(y; x)  = JS[p || q_theta]
    label noise      y -> x, y -> y~     minimise I(y~; x)
    instance noise   y -> x -> x~        minimise I(y; x~) = JS[p_sigma || q_sigma]

Under each graph, one concrete example (data p = delta_0, generator q_theta = delta_theta,
the label flipped with probability LABEL_FLIP, instance noise of std SIGMA) and that mutual
information at two generator positions THETAS, in nats, from reference/theory.py
(information_atoms, with and without label_flip, and information_quadrature): the first two
are the same at both positions (flat in theta), the third is not.

Contract: make(out_dir, quick) writes graphical_models.png and returns [its path]; it is all
analytic and takes under a second, so quick changes nothing.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Circle, FancyArrowPatch

from figures import style
from reference import data, theory

NUMBER = 4
TITLE = "The graphical models: the mutual information each version of the game minimises"

THETAS = (2.0, 2.5)  # generator positions; the data sits at 0, so the supports are disjoint
LABEL_FLIP = 0.1
SIGMA = 1.0
RADIUS = 0.36  # of a variable's circle, in the diagram's units (equal aspect)

# Each model, under the name style.METHODS gives it: its variables (mathtext name -> centre on
# one row, and what it is), its edges, the highlighted pair, and the mutual information of
# that pair with what it equals. One row each, so that where the noise enters (at the label,
# at the instance) reads left to right.
MODELS = {
    "no noise": {
        "heading": "vanilla GAN (no noise)",
        "nodes": {
            "y": (0.7, "label:\nreal or fake"),
            "x": (2.5, r"$x \sim p$ or $q_\theta$"),
        },
        "edges": [("y", "x")],
        "pair": ("y", "x"),
        "information": r"I(y;\,x)",
        "equals": r"\mathrm{JS}[p\,\|\,q_\theta]",
    },
    "label noise": {
        "heading": "label noise",
        "nodes": {
            "x": (0.4, r"$x \sim p$ or $q_\theta$"),
            "y": (1.6, "label"),
            r"\tilde{y}": (2.8, f"$y$ flipped\nw.p. {LABEL_FLIP:g}"),
        },
        "edges": [("y", "x"), ("y", r"\tilde{y}")],
        "pair": ("x", r"\tilde{y}"),
        "information": r"I(\tilde{y};\,x)",
        "equals": None,
    },
    "instance noise": {
        "heading": "instance noise",
        "nodes": {
            "y": (0.4, "label"),
            "x": (1.6, r"$x \sim p$ or $q_\theta$"),
            r"\tilde{x}": (
                2.8,
                rf"$x + \epsilon$," "\n" rf"$\epsilon \sim \mathcal{{N}}(0, {SIGMA:g}^2)$",
            ),
        },
        "edges": [("y", "x"), ("x", r"\tilde{x}")],
        "pair": ("y", r"\tilde{x}"),
        "information": r"I(y;\,\tilde{x})",
        "equals": r"\mathrm{JS}[p_\sigma\,\|\,q_\sigma]",
    },
}
ROW = 1.0  # the height of the row of variables in the diagram's units


def point_mass(at: float) -> data.Mixture:
    return data.mixture([[at]], 0.0)


def information(method: str, theta: float) -> float:
    """The highlighted pair's mutual information in nats, for p = delta_0, q = delta_theta."""
    p, q = point_mass(0.0), point_mass(theta)
    if method == "no noise":
        return theory.information_atoms(p, q)
    if method == "label noise":
        return theory.information_atoms(p, q, label_flip=LABEL_FLIP)
    return theory.information_quadrature(p, q, SIGMA)


def tint(colour: str, amount: float = 0.25) -> tuple:
    """colour mixed with white: a fill light enough for a black symbol on it to stay legible."""
    return tuple(1.0 - amount * (1.0 - np.array(to_rgb(colour))))


def draw_graph(axes, method: str, model: dict) -> None:
    look = style.METHODS[method]
    centre, circle = {}, {}
    for name, (x, description) in model["nodes"].items():
        highlighted = name in model["pair"]
        centre[name] = (x, ROW)
        circle[name] = axes.add_patch(
            Circle(
                (x, ROW),
                RADIUS,
                linewidth=2.5 if highlighted else 1.2,
                edgecolor=look["color"] if highlighted else "0.3",
                facecolor=tint(look["color"]) if highlighted else "white",
                zorder=2,
            )
        )
        axes.text(x, ROW, f"${name}$", ha="center", va="center", fontsize=16, zorder=3)
        axes.text(x, ROW - RADIUS - 0.1, description, ha="center", va="top", fontsize=9)
    for start, end in model["edges"]:
        axes.add_patch(
            FancyArrowPatch(
                centre[start],
                centre[end],
                arrowstyle="-|>",
                mutation_scale=16,
                linewidth=1.3,
                color="0.2",
                patchA=circle[start],  # clipped at the circles' edges
                patchB=circle[end],
                zorder=1,
            )
        )
    # The minimised pair: a two-headed arc above the row, in the method's colour and line
    # style, so that it reads as "these two should become independent", not as an edge.
    first, second = model["pair"]
    a, b = centre[first], centre[second]
    axes.add_patch(
        FancyArrowPatch(
            a,
            b,
            connectionstyle="arc3,rad=-0.4",
            arrowstyle="<|-|>",
            mutation_scale=13,
            linewidth=2.0,
            color=look["color"],
            linestyle=look["linestyle"],
            patchA=circle[first],
            patchB=circle[second],
            zorder=1,
        )
    )
    axes.text(
        (a[0] + b[0]) / 2,
        ROW + 0.62,
        f"minimise ${model['information']}$",
        ha="center",
        va="bottom",
        color=look["color"],
        fontsize=11,
        fontweight="bold",
    )
    axes.set_title(model["heading"], fontsize=12)
    axes.set_xlim(-0.1, 3.3)
    axes.set_ylim(0.2, 1.95)
    axes.set_aspect("equal")
    axes.axis("off")


def draw_example(axes, method: str) -> None:
    """What the discriminator is shown at theta = THETAS[0]: the two point masses (label noise
    leaves them as they are), or with instance noise the two noisy densities."""
    theta = THETAS[0]
    if method == "instance noise":
        x = np.linspace(-3.5, 5.5, 400)[:, None]  # (N, 1)
        for at, colour, linestyle, name in (
            (0.0, style.REAL, "-", r"data $p_\sigma$"),
            (theta, style.FAKE, "--", r"generator $q_\sigma$"),
        ):
            density = np.exp(theory.log_density(theory.noisy(point_mass(at), SIGMA), x))
            axes.plot(x[:, 0], density, color=colour, linestyle=linestyle, label=name)
            axes.fill_between(x[:, 0], density, color=colour, alpha=0.15, linewidth=0)
        axes.set_ylim(0, 0.68)
    else:
        for at, colour, linestyle, name in (
            (0.0, style.REAL, "-", r"data $p = \delta_0$"),
            (theta, style.FAKE, "--", rf"generator $q_\theta = \delta_{{{theta:g}}}$"),
        ):
            axes.vlines(at, 0, 1, color=colour, linestyle=linestyle, linewidth=2.5, label=name)
        axes.set_ylim(0, 1.75)
        if method == "label noise":
            axes.text(
                4.3,
                0.45,
                f"labels\nflipped\nw.p. {LABEL_FLIP:g}",
                ha="center",
                va="center",
                fontsize=9,
            )
    axes.set_xlim(-3.5, 5.5)
    axes.set_yticks([])
    axes.spines["left"].set_visible(False)
    axes.set_xlabel(r"$\tilde{x}$" if method == "instance noise" else "$x$")
    axes.legend(loc="upper left", fontsize=9, frameon=False, handlelength=1.8)


def draw_values(axes, method: str, model: dict) -> None:
    """The pair's mutual information at both THETAS, and whether it moves with theta."""
    values = [information(method, theta) for theta in THETAS]
    flat = np.isclose(values[0], values[1], rtol=0.0, atol=1e-12)
    heading = model["information"] + (f" = {model['equals']}" if model["equals"] else "")
    lines = [f"${heading}$"]
    lines += [
        rf"$\theta$ = {theta:g}:  {value:.3f} nats"
        for theta, value in zip(THETAS, values, strict=True)
    ]
    axes.text(
        0.5,
        1.0,
        "\n".join(lines),
        ha="center",
        va="top",
        fontsize=10.5,
        linespacing=1.6,
        transform=axes.transAxes,
    )
    verdict = r"flat in $\theta$: no gradient" if flat else r"changes with $\theta$: a gradient"
    axes.text(
        0.5,
        0.08,
        verdict,
        ha="center",
        va="top",
        fontsize=10.5,
        fontweight="bold",
        transform=axes.transAxes,
    )
    axes.axis("off")


def make(out_dir: Path, quick: bool) -> list[Path]:
    figure, grid = plt.subplots(
        3,
        3,
        figsize=(style.WIDTH, 6.2),
        gridspec_kw={"height_ratios": [1.6, 1.2, 1.0], "hspace": 0.4, "wspace": 0.12},
    )
    for column, (method, model) in enumerate(MODELS.items()):
        draw_graph(grid[0, column], method, model)
        draw_example(grid[1, column], method)
        draw_values(grid[2, column], method, model)
    figure.suptitle(
        "The pair each version of the game makes independent, and whether that moves the generator"
    )
    figure.text(
        0.5,
        0.04,
        rf"Example: data $p = \delta_0$, generator $q_\theta = \delta_\theta$; "
        rf"label flip probability {LABEL_FLIP:g}; instance noise $\sigma$ = {SIGMA:g}."
        "\nMutual information in nats; its largest value is log 2 ≈ 0.693.",
        ha="center",
        va="top",
        fontsize=10,
    )
    path = out_dir / "graphical_models.png"
    style.save(figure, path)
    return [path]
