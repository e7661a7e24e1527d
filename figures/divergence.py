"""Figure 6, the divergence against the generator's position: data p = delta_0, generator
q_theta = delta_theta (theory.shifted), and the information the discriminator's loss estimates,
I(y~; x~) = log 2 - (the Bayes-optimal loss), as theta moves through the data.

    no noise        I(y; x) = JS[p || q_theta]                 theory.information_atoms
    label noise     I(y~; x), labels flipped at rate eps       theory.information_atoms(eps)
    instance noise  I(y; x~) = JS[p_sigma || q_theta,sigma]    theory.information_quadrature

Panels. (a) The example at theta = SHOWN_THETA, with the noisy densities at sigma = SHOWN_SIGMA.
(b) I against theta. Without noise it is log 2 wherever theta != 0 and 0 at theta = 0 alone
(an isolated point, drawn as such): no slope anywhere to follow. Label flips lower the plateau
to log 2 - h(eps) and leave it as flat. Instance noise turns it into a smooth bowl with its
minimum at the data, wider for larger sigma. (c) The gap log 2 - I on a log scale: constant
for label noise, shrinking smoothly for instance noise. For small sigma it is already below
1e-4 eight sigma from the data, so the bowl is flat in practice there: the reason to start
with a large sigma and anneal it.

Shapes: thetas (T,), each curve (T,).
Contract: make(out_dir, quick) writes divergence.png and returns [its path]; quick uses
THETA_POINTS[True] positions.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from figures import style
from reference import data, theory

NUMBER = 6
TITLE = "The divergence against the generator's position: flat without noise, bowls with it"

P = data.mixture([[0.0]], 0.0)  # the data: a point mass at 0
Q = data.mixture([[0.0]], 0.0)  # the generator at theta = 0, moved by theory.shifted
SIGMAS = (0.25, 0.5, 1.0, 2.0)
FLIPS = (0.1, 0.25)  # 0.1 as in figures 2 and 4
THETA_RANGE = (-4.0, 4.0)
THETA_POINTS = {False: 401, True: 41}  # quick -> positions; both put one exactly at 0
SHOWN_THETA, SHOWN_SIGMA = 2.0, 1.0  # panel (a): figure 4's example
GAP_RANGE = (1e-4, 1.0)  # panel (c); far above the quadrature's rounding (~1e-11)
MARK_EVERY = 0.1  # a marker every this fraction of the line's length
MARKER_SIZE = 5


def thetas(quick: bool) -> np.ndarray:
    return np.linspace(*THETA_RANGE, THETA_POINTS[quick])


def information(theta: np.ndarray, sigma: float, label_flip: float) -> np.ndarray:
    """(T,): I(y~; x~) with the generator at each theta; point masses at sigma = 0."""
    if sigma == 0.0:
        return np.array(
            [theory.information_atoms(P, theory.shifted(Q, t), label_flip) for t in theta]
        )
    return np.array(
        [theory.information_quadrature(P, theory.shifted(Q, t), sigma, label_flip) for t in theta]
    )


def shade(k: int):
    """The colour of SIGMAS[k] on the sequential palette, the smallest sigma darkest."""
    return plt.get_cmap(style.SEQUENCE)(0.85 * k / (len(SIGMAS) - 1))


def draw_example(axes) -> None:
    """p and q_theta as arrows (point masses) over their noisy densities at SHOWN_SIGMA."""
    x = np.linspace(-3.0, 5.0, 401)[:, None]
    model = theory.shifted(Q, SHOWN_THETA)
    for mixture, colour, name in (
        (P, style.REAL, r"$p = \delta_0$"),
        (model, style.FAKE, r"$q_\theta = \delta_\theta$"),
    ):
        density = np.exp(theory.log_density(theory.noisy(mixture, SHOWN_SIGMA), x))
        axes.plot(x[:, 0], density, color=colour, linewidth=2.0)
        axes.fill_between(x[:, 0], density, color=colour, alpha=0.15, linewidth=0)
        atom = float(mixture.means[0, 0])
        axes.annotate(
            "",
            xy=(atom, 1.0),
            xytext=(atom, 0.0),
            arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 2.5},
        )
        axes.text(atom, 1.04, name, color=colour, ha="center", va="bottom")
    axes.annotate(
        "",
        xy=(SHOWN_THETA, 0.6),
        xytext=(0.0, 0.6),
        arrowprops={"arrowstyle": "<->", "color": "0.3"},
    )
    axes.text(SHOWN_THETA / 2, 0.62, f"θ = {SHOWN_THETA:g}", ha="center", va="bottom", color="0.3")
    axes.text(
        -2.9,
        0.95,
        f"filled: the densities\nwith noise σ = {SHOWN_SIGMA:g}",
        va="top",
        fontsize=8,
        color="0.3",
    )
    axes.set_xlim(x[0, 0], x[-1, 0])
    axes.set_ylim(0.0, 1.2)
    axes.set_xlabel("x")
    axes.set_ylabel("density (arrows: point masses)")
    axes.set_title("(a) the data and the generator")


def draw_isolated_minimum(axes, theta: np.ndarray, values: np.ndarray, look: dict) -> None:
    """A curve that is constant except at theta = 0: the plateau with a hole at 0 (an open
    marker) and the value at 0 as a separate filled point, so no line pretends to join them."""
    at_zero = theta == 0.0
    axes.plot(
        theta,
        np.where(at_zero, np.nan, values),
        linewidth=2.0,
        markevery=MARK_EVERY,
        markersize=MARKER_SIZE,
        **look,
    )
    dot = {"marker": "o", "markersize": 7, "markeredgecolor": look["color"], "zorder": 3}
    axes.plot(0.0, values[np.argmax(~at_zero)], markerfacecolor="white", **dot)  # the hole
    axes.plot(0.0, values[at_zero][0], markerfacecolor=look["color"], **dot)  # the point


def make(out_dir: Path, quick: bool) -> list[Path]:
    figure, (example, curves, gaps) = plt.subplots(
        1, 3, figsize=(style.WIDTH, 4.4), width_ratios=[0.8, 1.2, 1.2], layout="constrained"
    )
    draw_example(example)
    theta = thetas(quick)

    no_noise = information(theta, 0.0, 0.0)
    draw_isolated_minimum(curves, theta, no_noise, style.METHODS["no noise"])
    for flip in FLIPS:
        flipped = information(theta, 0.0, flip)
        draw_isolated_minimum(curves, theta, flipped, style.METHODS["label noise"])
        # Each plateau named at the right end, on the side away from the sigma = 2 curve.
        above = flip == min(FLIPS)
        curves.text(
            THETA_RANGE[1],
            flipped[0] + (0.01 if above else -0.01),
            f"ε = {flip:g}",
            color=style.METHODS["label noise"]["color"],
            ha="right",
            va="bottom" if above else "top",
        )
        draw_isolated_minimum(gaps, theta, theory.LOG_2 - flipped, style.METHODS["label noise"])
    for k, sigma in enumerate(SIGMAS):
        look = {**style.METHODS["instance noise"], "color": shade(k)}
        noisy = information(theta, sigma, 0.0)
        for axes, values in ((curves, noisy), (gaps, theory.LOG_2 - noisy)):
            axes.plot(
                theta, values, linewidth=2.0, markevery=MARK_EVERY, markersize=MARKER_SIZE, **look
            )

    label_axes(curves, gaps)
    figure.legend(handles=legend_handles(), loc="outside lower center", ncols=3, frameon=False)
    figure.suptitle(TITLE)

    path = out_dir / "divergence.png"
    style.save(figure, path)
    return [path]


def label_axes(curves, gaps) -> None:
    """Scales, limits, labels and titles of panels (b) and (c)."""
    curves.axhline(theory.LOG_2, color="grey", linewidth=1.0, zorder=0)
    curves.set_yticks(
        [0.0, 0.2, 0.4, 0.6, theory.LOG_2], labels=["0", "0.2", "0.4", "0.6", "log 2"]
    )
    curves.set_xlim(*THETA_RANGE)
    curves.set_ylim(-0.02, 0.8)
    curves.set_xlabel("generator position θ (data at 0)")
    curves.set_ylabel(r"$I(\tilde y;\, \tilde x)$ (nats)")
    curves.set_title(
        r"(b) $\mathrm{JS}[p_\sigma \| q_{\theta,\sigma}]$; with flips, $I(\tilde y;\, x)$"
    )

    gaps.set_yscale("log")
    gaps.set_xlim(*THETA_RANGE)
    gaps.set_ylim(*GAP_RANGE)
    gaps.text(
        0.0,
        GAP_RANGE[0] * 1.5,
        "no noise: 0 for θ ≠ 0, off the scale",
        ha="center",
        va="bottom",
        fontsize=8,
    )
    gaps.set_xlabel("generator position θ (data at 0)")
    gaps.set_ylabel(r"log 2 $-\ I(\tilde y;\, \tilde x)$ (nats)")
    gaps.set_title("(c) its distance from log 2, log scale")


def legend_handles() -> list:
    """One entry per curve family, as figure.legend takes them."""
    handles = [
        Line2D([], [], linewidth=2.0, label="no noise", **style.METHODS["no noise"]),
        Line2D(
            [], [], linewidth=2.0, label="label noise, flip rate ε", **style.METHODS["label noise"]
        ),
    ]
    handles += [
        Line2D(
            [],
            [],
            linewidth=2.0,
            label=f"instance noise σ = {sigma:g}",
            **{**style.METHODS["instance noise"], "color": shade(k)},
        )
        for k, sigma in enumerate(SIGMAS)
    ]
    return handles
