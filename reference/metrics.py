"""How a generator is scored: the standard toy-GAN metrics (modes captured, high-quality
fraction, reverse KL), a sample distance that needs no modes, and their analogues for the
digits, read by a fixed classifier.

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
For Images, the digits (reference/digits.py), a fixed classifier replaces the modes:
    mode of a sample       its most probable class
    high quality           that class has probability >= CONFIDENT (the held-out digits:
                           86% of them, mean confidence 0.95)
    modes captured         classes covered: at least COVERED_SHARE of the N samples are
                           high quality and of the class (a stray sample does not cover one)
    reverse KL             of the class histogram against the classes' shares of the
                           training digits (digits.class_weights: 118 to 122 of 1,198)
    mean confidence        the mean of the most probable class's probability: sample
                           quality as the classifier sees it, which a digit-like blur can fool
    Frechet distance       the "digits FID": the Frechet distance between Gaussians fitted to
                           the classifier's last hidden layer (64 features) of the generated
                           and of the 599 held-out digits; 0 only if both fits agree
Energy distance (Szekely and Rizzo 2013), for any two sample sets x: (N, dim), y: (M, dim):
    E = 2 mean |x - y| - mean |x - x'| - mean |y - y'|    (>= 0, = 0 in the limit iff x ~ y)
with the within-set means over distinct pairs (the unbiased U-statistics).

`evaluation_samples` draws EVAL_SAMPLES generated and data samples at the counter step EVAL_STEP,
which training never reaches (a run has fewer than 2**32 - 1 steps), so the metrics of a
run are a pure function of its arguments.

Contract: plain NumPy and SciPy, float64. Samples are (N, dim).
"""

import functools
import math

import numpy as np
from scipy.spatial.distance import cdist, pdist

from reference import data, digits, gan
from reference.config import MAX_STEPS, GANConfig
from reference.philox import SubstepRandom, key_from_seed

QUALITY_STDS = 3.0
POINT_MASS_SCALE = 0.01
CIRCLE_ARCS = 8
CIRCLE_QUALITY_WIDTH = 0.03
IMAGE_METRICS = ("mean_confidence", "frechet_distance")  # what images add to the metrics
CONFIDENT = 0.9  # a generated digit is high quality when its class has probability >= 0.9
COVERED_SHARE = 0.01  # a class is covered by 1% of the samples, a tenth of its share 1 / 10
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
    reverse_kl and mode_counts (samples per mode, high quality or not); for images, the
    same names for the classes, and mean_confidence."""
    if isinstance(distribution, data.Images):
        return class_metrics(x)
    mode, high_quality, weights = mode_assignment(distribution, x)
    return histogram_metrics(mode, high_quality, weights, least=1)


def class_metrics(x: np.ndarray) -> dict:
    """x: (N, 64) generated digits -> mode_metrics' names for the classifier's classes (a
    sample's mode is its most probable class; high quality: that class's probability is at
    least CONFIDENT; captured: a class with at least COVERED_SHARE N high-quality samples),
    and mean_confidence, the mean of the most probable class's probability."""
    probabilities, _ = digits.classify(x)
    confidence = probabilities.max(axis=1)
    least = max(1, math.ceil(COVERED_SHARE * len(x)))
    histogram = histogram_metrics(probabilities.argmax(axis=1), confidence >= CONFIDENT,
                                  digits.class_weights(), least)  # fmt: skip
    return histogram | {"mean_confidence": float(confidence.mean())}


def histogram_metrics(mode, high_quality, weights, least: int) -> dict:
    """mode: (N,) int, high_quality: (N,) bool, weights: (K,) the true weights -> the mode
    metrics, a mode captured when at least `least` high-quality samples are its."""
    counts = np.bincount(mode, minlength=len(weights))
    captured = np.bincount(mode[high_quality], minlength=len(weights)) >= least
    q = counts / len(mode)
    present = q > 0.0
    reverse_kl = float(np.sum(q[present] * np.log(q[present] / weights[present])))
    return {
        "modes_captured": int(captured.sum()),
        "modes_total": len(weights),
        "high_quality_fraction": float(high_quality.mean()),
        "reverse_kl": reverse_kl,
        "mode_counts": counts.tolist(),
    }


def frechet_distance(features_x: np.ndarray, features_y: np.ndarray) -> float:
    """features_x: (N, F), features_y: (M, F) -> the Frechet distance between the Gaussians
    fitted to them, |mu_x - mu_y|^2 + tr(C_x + C_y - 2 (C_x C_y)^(1/2)), with
    tr (C_x C_y)^(1/2) = tr (C_x^(1/2) C_y C_x^(1/2))^(1/2), whose matrix is symmetric:
    the eigenvalues of symmetric matrices only, each clipped at 0 against rounding."""
    mean_x, mean_y = features_x.mean(axis=0), features_y.mean(axis=0)
    cov_x, cov_y = np.cov(features_x, rowvar=False), np.cov(features_y, rowvar=False)
    values, vectors = np.linalg.eigh(cov_x)
    root_x = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_x @ cov_y @ root_x), 0.0, None)).sum()
    return float(np.sum((mean_x - mean_y) ** 2) + np.trace(cov_x) + np.trace(cov_y) - 2 * cross)


def image_metrics(distribution: data.Distribution, x: np.ndarray) -> dict:
    """x: (N, dim) generated samples -> for images, frechet_distance: the digits FID, the
    Frechet distance in the classifier's last hidden layer to the held-out digits (never
    trained on); nothing for the toys."""
    if not isinstance(distribution, data.Images):
        return {}
    _, features = digits.classify(x)
    return {"frechet_distance": frechet_distance(features, held_out_features())}


@functools.cache
def held_out_features() -> np.ndarray:
    """(599, 64): the classifier's features of the held-out digits, computed once."""
    _, features = digits.classify(digits.images("held_out")[0])
    features.flags.writeable = False
    return features


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
    of the distribution: mode_metrics, energy_distance and image_metrics."""
    return {
        **mode_metrics(distribution, x_fake),
        "energy_distance": energy_distance(x_fake, x_real),
        **image_metrics(distribution, x_fake),
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
