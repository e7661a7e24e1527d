"""Figure 7, the Dirac-GAN (Mescheder, Geiger and Nowozin 2018): data delta_0, generator
delta_theta, discriminator logit psi * x, so the whole game lives in the plane (theta, psi).
The conventions (the game value L, the field v = (-dL/dtheta, dL/dpsi), the Gauss-Hermite
noise expectations, the penalties) are those of reference/theory.py's docstring.

Left, a 3 x 2 grid over (theta, psi): the field theory.dirac_vector_field as stream lines,
without noise (top), with instance noise of std SIGMA (middle) and with the R1 penalty at
GAMMA = SIGMA^2 / 2 (bottom), and on each the path of theory.dirac_trajectory from START
with step STEP_SIZE, simultaneous (left) or alternating (right). Without noise simultaneous
descent spirals away from the equilibrium (0, 0) and alternating descent circles it; with
instance noise or R1 both converge to it. R1 acts on the discriminator only, so its field
differs from the noisy one away from (0, 0); at (0, 0) the two have the same Jacobian.

Right, the Jacobian's eigenvalues at (0, 0) against sigma, real part above and imaginary part
below: theory.dirac_eigenvalues as lines, and as open circles the eigenvalues (numpy) of
theory.dirac_jacobian_numerical, central differences of the noisy field itself. Without
noise they are +-i/2 (a rotation); any sigma > 0 gives them a negative real part; past
sigma = sqrt(2) they are real, and the slower one tends to 0 again as sigma grows. The
triangles are the eigenvalues of the R1 field's central-difference Jacobian, without noise,
at gamma = sigma^2 / 2 (the top axis): they fall on the noise's curves, since R1 at gamma and
noise at sigma = sqrt(2 gamma) put the same -gamma = -sigma^2 / 2 on the Jacobian's diagonal.
(R2 is the same field here, and Roth et al.'s penalty at gamma matches noise at sqrt(gamma).)

Contract: make(out_dir, quick) writes dirac_gan.png and returns [its path]; quick draws the
field on a coarser grid and fewer numerical points.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from figures import style
from reference import theory

NUMBER = 7
TITLE = (
    "Dirac-GAN: the gradient field, training paths and the Jacobian's eigenvalues against σ, "
    "with instance noise and with R1"
)

SIGMA = 1.0  # the instance noise of the middle row
GAMMA = SIGMA**2 / 2  # the R1 weight of the bottom row: the same eigenvalues as SIGMA's noise
START = (1.5, 0.0)  # the generator away from the data, the discriminator indifferent
STEP_SIZE = 0.2  # inside the range the tests check (0.01 to 0.3)
N_STEPS = 200  # time 40: the noiseless spiral grows to radius 2.5, the others end < 3e-4
LIMIT = 3.0  # the field is drawn over [-LIMIT, LIMIT]^2
SIGMA_MAX = 3.0  # the eigenvalue panels' range
DELTA = 1e-4  # central-difference step: the tests bound its error below 2e-7 on this range
# R1 has no entry in style.METHODS (the training figures have no penalty): Okabe and Ito's
# orange, unused elsewhere, a dash-dot-dot line and triangles.
LOOKS = {**style.METHODS, "R1": {"color": "#E69F00", "linestyle": (0, (5, 1.5, 1, 1.5, 1, 1.5)),
                                 "marker": "v"}}  # fmt: skip
ROWS = (  # (method, sigma, penalty, gamma), top to bottom
    ("no noise", 0.0, "none", 0.0),
    ("instance noise", SIGMA, "none", 0.0),
    ("R1", 0.0, "r1", GAMMA),
)


def row_title(method: str, sigma: float, gamma: float) -> str:
    if method == "R1":
        return f"R1, γ = {gamma:g}"
    return "no noise" if sigma == 0 else f"instance noise σ = {sigma:g}"


def draw_field(
    axes, method: str, sigma: float, penalty: str, gamma: float, alternating: bool, grid_points: int
) -> None:
    """Stream lines of the field, the path from START and the equilibrium."""
    axis = np.linspace(-LIMIT, LIMIT, grid_points)
    theta, psi = np.meshgrid(axis, axis, indexing="xy")  # (G, G): rows psi, columns theta
    v_theta, v_psi = theory.dirac_vector_field(theta, psi, sigma, penalty, gamma)
    axes.streamplot(
        axis,
        axis,
        v_theta,
        v_psi,
        color="0.72",
        linewidth=0.7,
        density=0.9,
        arrowsize=0.8,
        zorder=1,
    )
    look = LOOKS[method]
    path = theory.dirac_trajectory(
        *START, sigma, STEP_SIZE, N_STEPS, alternating, penalty, gamma
    )  # (T + 1, 2)
    axes.plot(*path.T, color=look["color"], linestyle=look["linestyle"], linewidth=1.6, zorder=2)
    axes.plot(*path[0], marker=look["marker"], color=look["color"], markersize=7, zorder=3)
    axes.plot(
        *path[-1],
        marker=look["marker"],
        markerfacecolor="white",
        markeredgecolor=look["color"],
        markeredgewidth=1.5,
        markersize=7,
        zorder=3,
    )
    axes.plot(0, 0, marker="+", color="black", markersize=11, markeredgewidth=2, zorder=4)
    axes.set_xlim(-LIMIT, LIMIT)
    axes.set_ylim(-LIMIT, LIMIT)
    axes.set_aspect("equal")
    axes.set_xticks([-2, 0, 2])
    axes.set_yticks([-2, 0, 2])


def draw_eigenvalues(real_axes, imag_axes, n_points: int) -> None:
    """Noise's analytic eigenvalues as lines and numerical ones (both per sigma) as circles;
    R1's numerical ones at gamma = sigma^2 / 2 as triangles, between the circles."""
    sigma_line = np.linspace(0.0, SIGMA_MAX, 400)
    analytic = theory.dirac_eigenvalues(sigma_line)  # (S, 2): '+' root first
    sigma_points = np.linspace(0.0, SIGMA_MAX, n_points)
    numerical = np.linalg.eigvals(theory.dirac_jacobian_numerical(sigma_points, DELTA))  # (N, 2)
    sigma_r1 = (sigma_points[:-1] + sigma_points[1:]) / 2  # (N - 1,): where no circle sits
    jacobian_r1 = theory.dirac_jacobian_numerical(0.0, DELTA, "r1", sigma_r1**2 / 2)
    r1 = np.linalg.eigvals(jacobian_r1)  # (N - 1, 2)
    look = LOOKS["R1"]
    for axes, part in ((real_axes, np.real), (imag_axes, np.imag)):
        for root, (colour, linestyle, name) in enumerate(
            (("black", "-", "λ₊"), ("0.45", "--", "λ₋"))
        ):
            axes.plot(
                sigma_line,
                part(analytic[:, root]),
                color=colour,
                linestyle=linestyle,
                linewidth=1.6,
                label=f"noise {name}, closed form",
            )
        axes.plot(
            np.repeat(sigma_points, 2),
            part(numerical).ravel(),
            linestyle="none",
            marker="o",
            markersize=5,
            markerfacecolor="none",
            markeredgecolor="black",
            label="noise, central differences",
        )
        axes.plot(
            np.repeat(sigma_r1, 2),
            part(r1).ravel(),
            linestyle="none",
            marker=look["marker"],
            markersize=5,
            color=look["color"],
            label="R1 at γ = σ²/2, central diff.",
        )
        # sqrt(2): where f''(0)^2 sigma^4 = f'(0)^2 and the two roots meet on the real axis.
        axes.axvline(np.sqrt(2.0), color="0.5", linestyle=":", linewidth=1)
        axes.axvline(
            SIGMA,
            color=LOOKS["instance noise"]["color"],
            linewidth=1,
            linestyle=LOOKS["instance noise"]["linestyle"],
        )
        axes.axhline(0.0, color="0.5", linewidth=0.6)
        axes.set_xlim(0.0, SIGMA_MAX)
    # Labels for both vertical lines where no curve runs: between the imaginary parts left of
    # sqrt(2), above the real axis right of it.
    imag_axes.text(np.sqrt(2.0) + 0.1, 0.2, "σ = √2:\nreal roots", fontsize=8.5, color="0.35")
    imag_axes.text(
        SIGMA - 0.08,
        0.06,
        f"σ = {SIGMA:g},\nγ = {GAMMA:g}:\nthe paths\non the left",
        fontsize=8.5,
        ha="right",
        color=LOOKS["instance noise"]["color"],
    )
    # The R1 weight on a top axis: gamma = sigma^2 / 2, the map under which the curves agree.
    gamma_axis = real_axes.secondary_xaxis(
        "top", functions=(lambda s: s**2 / 2, lambda g: np.sqrt(np.maximum(2 * g, 0.0)))
    )
    gamma_axis.set_xticks([0.0, 0.5, 1.0, 2.0, 3.0, 4.0])
    gamma_axis.set_xticklabels(["0", "½", "1", "2", "3", "4"])
    gamma_axis.set_xlabel("R1 weight γ = σ²/2")
    # Room below the curves (the slower root reaches -4.4 at SIGMA_MAX) for the legend.
    real_axes.set_ylim(-5.8, 0.2)
    real_axes.set_ylabel("Re λ")
    real_axes.set_title("eigenvalues λ of the Jacobian at (0, 0)", fontsize=10, pad=10)
    real_axes.legend(loc="lower left", fontsize=8.5)
    imag_axes.set_ylabel("Im λ")
    imag_axes.set_xlabel("instance-noise std σ")


def make(out_dir: Path, quick: bool) -> list[Path]:
    grid_points, n_points = (21, 7) if quick else (61, 13)
    figure = plt.figure(figsize=(style.WIDTH, 9.6))
    layout = figure.add_gridspec(3, 3, width_ratios=[1, 1, 1.15], wspace=0.32, hspace=0.32)
    for row, (method, sigma, penalty, gamma) in enumerate(ROWS):
        for column, alternating in enumerate((False, True)):
            axes = figure.add_subplot(layout[row, column])
            draw_field(axes, method, sigma, penalty, gamma, alternating, grid_points)
            order = ("simultaneous", "alternating")[column]
            axes.set_title(f"{row_title(method, sigma, gamma)}, {order}", fontsize=10)
            axes.set_xlabel("θ (generator)" if row == len(ROWS) - 1 else "")
            axes.set_ylabel("ψ (discriminator)" if column == 0 else "")
    right = layout[:, 2].subgridspec(2, 1, hspace=0.12)
    real_axes = figure.add_subplot(right[0])
    imag_axes = figure.add_subplot(right[1], sharex=real_axes)
    real_axes.tick_params(labelbottom=False)
    draw_eigenvalues(real_axes, imag_axes, n_points)
    handles = [
        Line2D(
            [],
            [],
            color=LOOKS[method]["color"],
            marker=LOOKS[method]["marker"],
            linestyle=LOOKS[method]["linestyle"],
            label=method,
        )
        for method, *_ in ROWS
    ]
    handles += [
        Line2D([], [], color="black", marker="o", linestyle="none", label="start (filled)"),
        Line2D(
            [],
            [],
            color="black",
            marker="o",
            markerfacecolor="white",
            linestyle="none",
            label=f"end, after {N_STEPS} steps of {STEP_SIZE:g}",
        ),
        Line2D(
            [],
            [],
            color="black",
            marker="+",
            markersize=10,
            markeredgewidth=2,
            linestyle="none",
            label="equilibrium",
        ),
        Line2D([], [], color="0.72", label="gradient field"),
    ]
    figure.legend(
        handles=handles,
        loc="lower center",
        ncol=7,
        fontsize=9,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
        columnspacing=1.2,
        handlelength=2.6,
    )
    figure.suptitle(
        "Dirac-GAN: gradient descent circles or spirals out without noise, and converges with "
        "instance noise or R1"
    )
    path = out_dir / "dirac_gan.png"
    style.save(figure, path)
    return [path]
