"""samples.png, the figure every single run of run.py writes: the discriminator's output
D(x) over the plane with data and generated samples, and the losses against log 2.

For a 1-D dataset the left panel is D(x) over the line with histograms of both sample sets;
for the ring in d > 2 dimensions it is the slice x3 = ... = xd = 0, where the data lies,
with the samples projected onto it. For images it is a mosaic of generated images beside
one of data images.
"""

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from figures import style
from reference import loss, mlp
from reference.config import GANConfig
from reference.data import Images, get_dataset


def discriminator_output(config: GANConfig, theta_D: np.ndarray, x: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logit): (N,) for x: (N, dim)."""
    logit, _ = mlp.forward(config.discriminator_spec(), theta_D, x)
    return loss.sigmoid(logit[:, 0])


def noise_description(config: GANConfig) -> str:
    if config.sigma0 == 0:
        return "no instance noise"
    if config.anneal == "none":
        return f"instance noise σ = {config.sigma0:g}"
    return (
        f"instance noise σ0 = {config.sigma0:g}, {config.anneal} over {config.anneal_steps} steps"
    )


def plot(config, history, theta_D, x_real, x_fake, result, reached: int, path: Path) -> None:
    """samples.png: D(x) with the evaluation samples on the left, the losses on the right.
    history: the logged records (dicts with step, sigma, loss_D, loss_G); result: the
    metrics of reference/metrics.py::evaluate; x_real, x_fake: (N, dim); reached: the
    steps trained, fewer than config.steps for a run that was stopped."""
    images = isinstance(get_dataset(config.dataset), Images)
    if images:
        figure, (data_axes, left, right) = plt.subplots(
            1, 3, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1, 1.3]}
        )
        draw_images(data_axes, x_real, "data (training digits)")
        draw_images(left, x_fake, "")
    else:
        figure, (left, right) = plt.subplots(
            1, 2, figsize=(11, 4.8), gridspec_kw={"width_ratios": [1.1, 1]}
        )
        draw = draw_samples_on_a_line if config.dim == 1 else draw_samples_on_the_plane
        draw(figure, left, config, theta_D, x_real, x_fake)
    left.set_title(metrics_line(result, images), fontsize=10)
    draw_losses(right, config, history)
    figure.suptitle(
        f"{config.dataset}: {noise_description(config)}, "
        f"label smoothing {config.real_target:g}, flip {config.label_flip:g}, "
        f"{trained(reached, config.steps)}, batch {config.batch}, seed {config.seed}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=90, format="png")  # path may be a temporary name
    plt.close(figure)


def metrics_line(result: dict, images: bool) -> str:
    """The metrics a panel of generated samples is titled with."""
    if images:  # classes, not modes
        return (f"generated: {result['modes_captured']}/{result['modes_total']} digits, "
                f"{100 * result['high_quality_fraction']:.0f}% confident,\nreverse KL "
                f"{result['reverse_kl']:.3f}, digits FID "
                f"{result['frechet_distance']:.1f}")  # fmt: skip
    return (f"modes {result['modes_captured']}/{result['modes_total']}, "
            f"high quality {100 * result['high_quality_fraction']:.0f}%, "
            f"reverse KL {result['reverse_kl']:.3f}")  # fmt: skip


def mosaic(x: np.ndarray, side: int, columns: int) -> np.ndarray:
    """x: (N, side * side) images, N a multiple of columns -> one (rows (side + 1) - 1,
    columns (side + 1) - 1) image of them in rows, NaN (style.GAP) between neighbours."""
    rows = len(x) // columns
    tiles = np.full((rows, columns, side + 1, side + 1), np.nan)
    tiles[:, :, :side, :side] = x.reshape(rows, columns, side, side)
    return tiles.transpose(0, 2, 1, 3).reshape(rows * (side + 1), columns * (side + 1))[:-1, :-1]


def draw_images(axes, x: np.ndarray, title: str, columns: int = 8) -> None:
    """The first columns**2 images of x: (N, 64) in [-1, 1] as a mosaic, ink dark on white."""
    side = math.isqrt(x.shape[1])
    ink = plt.get_cmap("Greys").with_extremes(bad=style.GAP)
    axes.imshow(mosaic(x[: columns * columns], side, columns), cmap=ink, vmin=-1, vmax=1)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.spines[:].set_visible(False)
    axes.set_title(title, fontsize=10)


def trained(reached: int, steps: int) -> str:
    return f"{steps} steps" if reached == steps else f"stopped after {reached} of {steps} steps"


def draw_samples_on_a_line(figure, axes, config, theta_D, x_real, x_fake) -> None:
    """1-D: D(x) as a curve over histograms of the data and the generated samples."""
    both = np.concatenate([x_real[:, 0], x_fake[:, 0]])
    low, high = np.percentile(both, [0.5, 99.5])
    margin = 0.25 * max(high - low, 1.0)
    grid = np.linspace(low - margin, high + margin, 400)
    axes.plot(grid, discriminator_output(config, theta_D, grid[:, None]), "k-", label="D(x)")
    bins = np.linspace(low - margin, high + margin, 81)
    for x, hatch, name, color in ((x_real, "//", "data", style.REAL),
                                  (x_fake, "..", "generated", style.FAKE)):  # fmt: skip
        weights = np.full(len(x), 1.0 / len(x))
        axes.hist(x[:, 0], bins, weights=weights, histtype="step", hatch=hatch, label=name,
                  color=color)  # fmt: skip
    axes.set_xlabel("x")
    axes.set_ylabel("D(x); fraction of samples per bin")
    axes.legend(loc="upper right", fontsize=8)


SHOWN = 600  # samples drawn: enough to see the modes, few enough to see the heat map


def draw_samples_on_the_plane(figure, axes, config, theta_D, x_real, x_fake) -> None:
    """2-D (or the first two axes of more): D(x) as a heat map under both sample sets."""
    image = samples_on_the_plane(axes, config, theta_D, x_real, x_fake)
    off_plane = "x3" if config.dim == 3 else f"x3 = ... = x{config.dim}"
    sliced = f", slice {off_plane} = 0" * (config.dim > 2)
    figure.colorbar(image, ax=axes, label="D(x) = P(real)" + sliced)
    axes.set_xlabel("x1")
    axes.set_ylabel("x2" + " (samples projected onto x1, x2)" * (config.dim > 2))
    axes.legend(loc="upper right", fontsize=8, framealpha=0.9)


def samples_on_the_plane(axes, config, theta_D, x_real, x_fake, shown=SHOWN, grid=200):
    """D(x) as a grey grid x grid heat map over the samples' square, the first `shown` data
    samples (style.REAL) and generated samples (style.FAKE) on it; returns the heat map."""
    both = np.concatenate([x_real[:, :2], x_fake[:, :2]])
    low = np.minimum(np.percentile(both, 0.5, axis=0), x_real[:, :2].min(axis=0))
    high = np.maximum(np.percentile(both, 99.5, axis=0), x_real[:, :2].max(axis=0))
    centre, half = (low + high) / 2, 0.6 * (high - low).max() + 0.1
    axis = [np.linspace(c - half, c + half, grid) for c in centre]
    mesh = np.stack(np.meshgrid(*axis, indexing="xy"), axis=-1).reshape(-1, 2)
    # the ring in d > 2 dimensions: the heat map is the slice x3 = ... = xd = 0, the data's
    mesh = np.concatenate([mesh, np.zeros((len(mesh), config.dim - 2))], axis=1)
    d_grid = discriminator_output(config, theta_D, mesh).reshape(grid, grid)
    image = axes.pcolormesh(*axis, d_grid, cmap=style.HEAT_MAP, vmin=0, vmax=1, shading="auto")
    axes.scatter(*x_fake[:shown, :2].T, s=14, marker="x", color=style.FAKE, linewidth=0.9,
                 label="generated")  # fmt: skip
    # Data on top: its modes are tighter than the generated clouds that cover them.
    axes.scatter(*x_real[:shown, :2].T, s=12, marker="o", facecolor=style.REAL,
                 edgecolor="white", linewidth=0.5, label="data")  # fmt: skip
    axes.set_xlim(centre[0] - half, centre[0] + half)
    axes.set_ylim(centre[1] - half, centre[1] + half)
    axes.set_aspect("equal")
    return image


def draw_losses(axes, config, history) -> None:
    """Both losses against log 2, and sigma on a second axis when there is noise."""
    steps = [row["step"] for row in history]
    marker = "o" if len(steps) == 1 else None  # a line through one point draws nothing
    axes.plot(steps, [row["loss_D"] for row in history], label="D loss", color="black",
              marker=marker)  # fmt: skip
    axes.plot(steps, [row["loss_G"] for row in history], "--", label="G loss", color=style.FAKE,
              marker=marker)  # fmt: skip
    axes.axhline(math.log(2), color="black", linewidth=0.8, linestyle=":", label="log 2")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("losses (log 2: both at the equilibrium D = 1/2)", fontsize=10)
    if config.sigma0 == 0:
        axes.legend(loc="upper right", fontsize=8)
        return
    sigma_axis = axes.twinx()
    sigma_axis.plot(steps, [row["sigma"] for row in history], "-.", color="grey", label="σ",
                    marker=marker)  # fmt: skip
    sigma_axis.set_ylabel("instance-noise σ", color="grey")
    # Twice sigma0 at the top keeps the sigma curve clear of the legend.
    sigma_axis.set_ylim(0, 2.0 * config.sigma0)
    lines, labels = axes.get_legend_handles_labels()
    sigma_lines, sigma_labels = sigma_axis.get_legend_handles_labels()
    axes.legend(lines + sigma_lines, labels + sigma_labels, loc="upper right", fontsize=8)
