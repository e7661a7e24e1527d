"""Figure 7, the Dirac-GAN (Mescheder, Geiger and Nowozin 2018): data delta_0, generator
delta_theta, discriminator logit psi * x, so the whole game lives in the plane (theta, psi).
The conventions (the game value L, the field v = (-dL/dtheta, dL/dpsi), the Gauss-Hermite
noise expectations) are those of reference/theory.py's docstring.

Left, a 2 x 2 grid over (theta, psi): the field theory.dirac_vector_field as stream lines,
without noise (top) and with instance noise of std SIGMA (bottom), and on each the path of
theory.dirac_trajectory from START with step STEP_SIZE, simultaneous (left) or alternating
(right). Without noise simultaneous descent spirals away from the equilibrium (0, 0) and
alternating descent circles it; with instance noise both converge to it.

Right, the Jacobian's eigenvalues at (0, 0) against sigma, real part above and imaginary part
below: theory.dirac_eigenvalues as lines, and as points the eigenvalues (numpy) of
theory.dirac_jacobian_numerical, central differences of the field itself. Without noise they
are +-i/2 (a rotation); any sigma > 0 gives them a negative real part; past sigma = sqrt(2)
they are real, and the slower one tends to 0 again as sigma grows.

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
TITLE = "Dirac-GAN: the gradient field, training paths and the Jacobian's eigenvalues against σ"

SIGMA = 1.0  # the instance noise of the bottom row
START = (1.5, 0.0)  # the generator away from the data, the discriminator indifferent
STEP_SIZE = 0.2  # inside the range the tests check (0.01 to 0.3)
N_STEPS = 200  # time 40: the noiseless spiral grows to radius 2.5, the noisy paths end < 3e-4
LIMIT = 3.0  # the field is drawn over [-LIMIT, LIMIT]^2
SIGMA_MAX = 3.0  # the eigenvalue panels' range
H = 1e-4  # central-difference step: the tests bound its error below 2e-7 on this range


def draw_field(axes, sigma: float, alternating: bool, method: str, grid_points: int) -> None:
    """Stream lines of the field at this sigma, the path from START and the equilibrium."""
    axis = np.linspace(-LIMIT, LIMIT, grid_points)
    theta, psi = np.meshgrid(axis, axis, indexing="xy")  # (G, G): rows psi, columns theta
    v_theta, v_psi = theory.dirac_vector_field(theta, psi, sigma)
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
    look = style.METHODS[method]
    path = theory.dirac_trajectory(*START, sigma, STEP_SIZE, N_STEPS, alternating)  # (T + 1, 2)
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
    """Analytic eigenvalues as lines, numerical ones (both per sigma) as points."""
    sigma_line = np.linspace(0.0, SIGMA_MAX, 400)
    analytic = theory.dirac_eigenvalues(sigma_line)  # (S, 2): '+' root first
    sigma_points = np.linspace(0.0, SIGMA_MAX, n_points)
    numerical = np.linalg.eigvals(theory.dirac_jacobian_numerical(sigma_points, H))  # (P, 2)
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
                label=f"{name}, closed form",
            )
        axes.plot(
            np.repeat(sigma_points, 2),
            part(numerical).ravel(),
            linestyle="none",
            marker="o",
            markersize=5,
            markerfacecolor="none",
            markeredgecolor="black",
            label="central differences",
        )
        # sqrt(2): where f''(0)^2 sigma^4 = f'(0)^2 and the two roots meet on the real axis.
        axes.axvline(np.sqrt(2.0), color="0.5", linestyle=":", linewidth=1)
        axes.axvline(
            SIGMA,
            color=style.METHODS["instance noise"]["color"],
            linewidth=1,
            linestyle=style.METHODS["instance noise"]["linestyle"],
        )
        axes.axhline(0.0, color="0.5", linewidth=0.6)
        axes.set_xlim(0.0, SIGMA_MAX)
    # Labels for both vertical lines where no curve runs: between the imaginary parts left of
    # sqrt(2), above the real axis right of it.
    imag_axes.text(np.sqrt(2.0) + 0.1, 0.2, "σ = √2:\nreal roots", fontsize=8.5, color="0.35")
    imag_axes.text(
        SIGMA - 0.08,
        0.08,
        f"σ = {SIGMA:g}:\nthe paths\non the left",
        fontsize=8.5,
        ha="right",
        color=style.METHODS["instance noise"]["color"],
    )
    real_axes.set_ylabel("Re λ")
    real_axes.set_title("eigenvalues λ of the Jacobian at (0, 0)", fontsize=10)
    real_axes.legend(loc="lower left", fontsize=8.5)
    imag_axes.set_ylabel("Im λ")
    imag_axes.set_xlabel("instance-noise std σ")


def make(out_dir: Path, quick: bool) -> list[Path]:
    grid_points, n_points = (21, 7) if quick else (61, 25)
    figure = plt.figure(figsize=(style.WIDTH, 6.6))
    layout = figure.add_gridspec(2, 3, width_ratios=[1, 1, 1.1], wspace=0.32, hspace=0.3)
    rows = (("no noise", 0.0), ("instance noise", SIGMA))
    for row, (method, sigma) in enumerate(rows):
        for column, alternating in enumerate((False, True)):
            axes = figure.add_subplot(layout[row, column])
            draw_field(axes, sigma, alternating, method, grid_points)
            noise = "no noise" if sigma == 0 else f"instance noise σ = {sigma:g}"
            axes.set_title(f"{noise}, {('simultaneous', 'alternating')[column]}", fontsize=10)
            axes.set_xlabel("θ (generator)" if row == 1 else "")
            axes.set_ylabel("ψ (discriminator)" if column == 0 else "")
    real_axes = figure.add_subplot(layout[0, 2])
    imag_axes = figure.add_subplot(layout[1, 2], sharex=real_axes)
    draw_eigenvalues(real_axes, imag_axes, n_points)
    handles = [
        Line2D(
            [],
            [],
            color=style.METHODS[method]["color"],
            marker=style.METHODS[method]["marker"],
            linestyle=style.METHODS[method]["linestyle"],
            label=method,
        )
        for method, _ in rows
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
        ncol=6,
        fontsize=9,
        frameon=False,
        bbox_to_anchor=(0.5, -0.04),
    )
    figure.suptitle(
        "Dirac-GAN: gradient descent circles or spirals out without noise, and "
        "converges with instance noise"
    )
    path = out_dir / "dirac_gan.png"
    style.save(figure, path)
    return [path]
