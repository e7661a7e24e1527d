"""The standard toy-GAN metrics: modes captured, high-quality fraction, reverse KL, and a
sample distance that needs no modes.

For a Mixture (the definitions of VEEGAN, Srivastava et al. 2017, sec. 5.1, and PacGAN,
Lin et al. 2018, sec. 5):
    mode of a sample       its nearest component mean (Euclidean)
    high quality           within 3 scales of that mean, the scale of component k being its
                           largest std over the axes (a ring{d}d mode has std 0 off its
                           plane, yet is a 2-D blob; a sample's distance counts every axis);
                           a point mass (all stds 0) gets POINT_MASS_SCALE times the distance
                           to its nearest other mean, the std-to-gap ratio of the default ring
    modes captured         components that are the mode of at least one high-quality sample
                           (VEEGAN's count; PacGAN asks for 20 of 2500, which only a stray
                           sample or two tells apart)
    reverse KL             KL(q || w) = sum_k q_k log(q_k / w_k), q the histogram of all samples
                           over their modes, w the true weights; an empty mode adds 0 (the
                           0 log 0 = 0 limit), and since every w_k > 0 it is always finite
For a Circle (a zero-width curve) the analogues:
    mode of a sample       which of CIRCLE_ARCS equal arcs its angle falls in (arc k spans
                           angles [2 pi k / A, 2 pi (k + 1) / A)), each of true weight 1 / A
    high quality           | |x| - radius | <= CIRCLE_QUALITY_WIDTH * radius, which at the
                           default radius 2 is 0.06, 3 stds of a default ring mode
Energy distance (Szekely and Rizzo 2013), for any two sample sets x: (N, dim), y: (M, dim):
    E = 2 mean |x - y| - mean |x - x'| - mean |y - y'|    (>= 0, = 0 in the limit iff x ~ y)
with the within-set means over distinct pairs (the unbiased U-statistics).

`evaluation_samples` draws EVAL_SAMPLES generated and data samples at the counter step EVAL_STEP,
which training never reaches (a run has fewer than 2**32 - 1 steps), so the metrics of a
run are a pure function of its arguments.

Contract: plain NumPy and SciPy, float64. Samples are (N, dim).
"""

import numpy as np
from scipy.spatial.distance import cdist, pdist

from reference import data, gan
from reference.config import MAX_STEPS, GANConfig
from reference.philox import SubstepRandom, key_from_seed

QUALITY_STDS = 3.0
POINT_MASS_SCALE = 0.01
CIRCLE_ARCS = 8
CIRCLE_QUALITY_WIDTH = 0.03
EVAL_SAMPLES = 2500
EVAL_STEP = MAX_STEPS  # a counter step training never reaches


def mode_assignment(distribution: data.Distribution, x: np.ndarray):
    """x: (N, dim) -> (mode: (N,) int, high_quality: (N,) bool, weights: (K,))."""
    if isinstance(distribution, data.Circle):
        angle = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2.0 * np.pi)
        # min() keeps an angle that rounds up to exactly 2 pi in the last arc.
        mode = np.minimum((angle / (2.0 * np.pi) * CIRCLE_ARCS).astype(int), CIRCLE_ARCS - 1)
        radial = np.abs(np.linalg.norm(x, axis=1) - distribution.radius)
        high_quality = radial <= CIRCLE_QUALITY_WIDTH * distribution.radius
        return mode, high_quality, np.full(CIRCLE_ARCS, 1.0 / CIRCLE_ARCS)
    means = distribution.means
    distance = cdist(x, means)  # (N, K)
    mode = np.argmin(distance, axis=1)
    scale = distribution.stds.max(axis=1)  # (K,)
    if len(means) > 1:
        gap = cdist(means, means) + np.diag(np.full(len(means), np.inf))
        scale = np.where(scale > 0.0, scale, POINT_MASS_SCALE * gap.min(axis=1))
    else:
        scale = np.where(scale > 0.0, scale, POINT_MASS_SCALE)
    high_quality = distance[np.arange(len(x)), mode] <= QUALITY_STDS * scale[mode]
    return mode, high_quality, distribution.weights


def mode_metrics(distribution: data.Distribution, x: np.ndarray) -> dict:
    """x: (N, dim) generated samples -> modes_captured, modes_total, high_quality_fraction,
    reverse_kl and mode_counts (samples per mode, high quality or not)."""
    mode, high_quality, weights = mode_assignment(distribution, x)
    counts = np.bincount(mode, minlength=len(weights))
    captured = np.bincount(mode[high_quality], minlength=len(weights)) > 0
    q = counts / len(x)
    present = q > 0.0
    reverse_kl = float(np.sum(q[present] * np.log(q[present] / weights[present])))
    return {
        "modes_captured": int(captured.sum()),
        "modes_total": len(weights),
        "high_quality_fraction": float(high_quality.mean()),
        "reverse_kl": reverse_kl,
        "mode_counts": counts.tolist(),
    }


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """x: (N, dim), y: (M, dim), N, M >= 2 -> the energy distance between the two sample sets."""
    return float(2.0 * cdist(x, y).mean() - pdist(x).mean() - pdist(y).mean())


def evaluation_samples(
    config: GANConfig, theta_G: np.ndarray, n: int = EVAL_SAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """(x_real: (n, dim), x_fake: (n, dim)) drawn at EVAL_STEP, substep 0, from the run's seed."""
    rng = SubstepRandom(key_from_seed(config.seed), EVAL_STEP, 0)
    x_real = data.sample(data.get_dataset(config.dataset), rng, n)
    _, x_fake = gan.generate(config, theta_G, rng, n)
    return x_real, x_fake


def evaluate_generator(config: GANConfig, theta_G: np.ndarray) -> tuple[dict, ...]:
    """(evaluate's metrics, x_real, x_fake) of a run's generator theta_G, on the samples of
    evaluation_samples: what run.py and the sweep report for every run."""
    x_real, x_fake = evaluation_samples(config, theta_G)
    return evaluate(data.get_dataset(config.dataset), x_real, x_fake), x_real, x_fake


def evaluate(distribution: data.Distribution, x_real: np.ndarray, x_fake: np.ndarray) -> dict:
    """All the metrics of generated samples x_fake: (N, dim) against data samples x_real: (M, dim)
    of the distribution: mode_metrics and energy_distance."""
    return {
        **mode_metrics(distribution, x_fake),
        "energy_distance": energy_distance(x_fake, x_real),
    }


def summary_by_sigma0(rows: list[dict]) -> list[dict]:
    """rows: one dict per GAN with its 'sigma0', 'gamma' (its penalty's weight) and
    the metrics of evaluate -> per distinct (sigma0, gamma): how many GANs, the fraction that
    captured every mode, and the mean of each metric."""
    summary = []
    for level in dict.fromkeys((row["sigma0"], row["gamma"]) for row in rows):
        group = [row for row in rows if (row["sigma0"], row["gamma"]) == level]
        every_mode = [row["modes_captured"] == row["modes_total"] for row in group]
        means = {f"mean_{name}": float(np.mean([row[name] for row in group]))
                 for name in ("modes_captured", "high_quality_fraction", "reverse_kl",
                              "energy_distance")}  # fmt: skip
        summary.append({"sigma0": level[0], "gamma": level[1], "gans": len(group),
                        "all_modes_fraction": float(np.mean(every_mode))} | means)  # fmt: skip
    return summary
