"""reference/metrics.py for a population of P GANs at once, on the CPU: the same metrics of
the same samples, one dict per GAN.

GAN p's dict is the reference's evaluate_generator(config.member(p), theta_G[p]):

    samples        EVAL_SAMPLES data and generated samples drawn at EVAL_STEP under GAN p's
                   own key, bit for bit the reference's: fast/philox.py's Philox words for
                   every GAN at once, turned into float64 uniforms and normals by the
                   reference's own formulas and fed, every GAN's draws end to end, to the
                   reference's data.sample (which treats each row alone, so it must stay
                   row-wise); G's forward pass by reference/mlp.py, GAN by GAN
    modes          the reference's mode_metrics and image_metrics, GAN by GAN: equal, not
                   just close
    energy         its three means over pairs summed by one Numba kernel, parallel over the
                   rows of every GAN's samples, accumulated in float64: SciPy's distances,
                   summed in another order, so equal to float64 rounding (see
                   energy_distance)

A GAN's dict depends only on its own configuration and theta_G, never on P or the thread
count: GAN p of a population gets, bit for bit, what a population of that one GAN gets.
tests/test_fast_metrics.py checks all of this against the reference, GAN by GAN.

The cost is in the energy distance (N M + N (N - 1) / 2 + M (M - 1) / 2 distances per GAN,
12.5 million at N = M = 2500), which is why it alone is a kernel of its own; while drawing,
it takes about 1 MB of host memory per GAN.

Contract: float64 (these are the numbers a run reports, not training's), NumPy and Numba
on the CPU only: a theta_G on a GPU is copied to the host first. Shapes: theta_G
(P, n_params_G); samples (P, N, dim).
"""

import math

import numpy as np
from numba import njit, prange

from fast import device, philox
from fast.gan import PopulationConfig
from reference import data
from reference import metrics as reference_metrics
from reference import mlp as reference_mlp
from reference.metrics import EVAL_SAMPLES, EVAL_STEP
from reference.philox import Stream, SubstepRandom, normal_from_words, uniform_from_words


class EndToEndRandom(SubstepRandom):
    """The reference's SubstepRandom for P keys (P, 2) at once, every GAN's draws laid end to
    end: uniform(kind, n) is (P n,), normal(kind, (n, *rest)) is (P n, *rest), GAN p's the
    reference's own from its key, bit for bit (the words are integers, the float64
    formulas the reference's). The reference's row-wise samplers, given it, draw every
    GAN's rows in one call."""

    def uniform(self, kind: Stream, n: int) -> np.ndarray:
        words = philox.random_words(self.key, self.step, self.stream(kind), n)
        return uniform_from_words(words).reshape(-1)

    def normal(self, kind: Stream, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        # whole Philox blocks per GAN, so that Box-Muller's word pairs never span two GANs
        words = philox.random_words(self.key, self.step, self.stream(kind), 4 * ((n + 3) // 4))
        normals = normal_from_words(words.reshape(-1)).reshape(len(self.key), -1)
        return normals[:, :n].reshape(-1, *shape[1:])


def mode_metrics(distribution: data.Distribution, x: np.ndarray) -> list[dict]:
    """x: (P, N, dim) generated samples -> per GAN the reference's mode_metrics dict, by the
    reference's own function (a few milliseconds a GAN: not worth a second version)."""
    return [reference_metrics.mode_metrics(distribution, x_p) for x_p in x]


@njit(parallel=True, cache=True, error_model="numpy")
def _distance_row_sums(x, y, distinct):
    """(P, N) float64: entry (p, i) is sum_j |x[p, i] - y[p, j]| over j, over j > i only when
    distinct (x is y: each unordered pair once, as pdist). x: (P, N, dim), y: (P, M, dim).
    A row is one thread's, summed in j order, so the result is the same for any thread
    count; the rows of every GAN are shared out, so even P = 1 uses every core."""
    P, N, M, dim = x.shape[0], x.shape[1], y.shape[1], x.shape[2]
    out = np.empty((P, N))
    for task in prange(P * N):
        p, i = task // N, task % N
        total = 0.0
        for j in range(i + 1 if distinct else 0, M):
            squares = 0.0
            for k in range(dim):
                d = x[p, i, k] - y[p, j, k]
                squares += d * d
            total += math.sqrt(squares)
        out[p, i] = total
    return out


def energy_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x: (P, N, dim), y: (P, M, dim), N, M >= 2 -> (P,) the energy distance between x[p]
    and y[p]: the reference's formula, each mean over pairs a sum of row sums (M terms,
    then N rows pairwise). Each distance is formed as SciPy's is (the root of the summed
    squares), but the sums' order is not NumPy's, so the result agrees with the reference's
    to float64 rounding: within (2 max(N, M) + dim + 5) eps times the sum of its three terms
    (tests/test_fast_metrics.py derives it)."""
    N, M = x.shape[1], y.shape[1]
    between = _distance_row_sums(x, y, False).sum(axis=1) / (N * M)
    within_x = _distance_row_sums(x, x, True).sum(axis=1) / (N * (N - 1) // 2)
    within_y = _distance_row_sums(y, y, True).sum(axis=1) / (M * (M - 1) // 2)
    return 2.0 * between - within_x - within_y


def evaluation_samples(
    config: PopulationConfig, theta_G: np.ndarray, n: int = EVAL_SAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """(x_real: (P, n, dim), x_fake: (P, n, dim)) float64, GAN p's the reference's
    evaluation_samples(config.member(p), theta_G[p], n): drawn at EVAL_STEP, substep 0, from
    its own seed. theta_G: (P, n_params_G) float64 on the host."""
    rng = EndToEndRandom(config.keys(), EVAL_STEP, 0)
    base, P = config.base, config.size
    x_real = data.sample(data.get_dataset(base.dataset), rng, n).reshape(P, n, -1)
    z = rng.normal(Stream.LATENT, (n, base.latent)).reshape(P, n, base.latent)
    # G's forward by the reference's own function (as gan.generate calls it), GAN by GAN:
    # the same operations on the same z, so the same bits
    spec = base.generator_spec()
    x_fake = np.stack([reference_mlp.forward(spec, theta_G[p], z[p])[0] for p in range(P)])
    return x_real, x_fake


def evaluate_generator(
    config: PopulationConfig, theta_G
) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """(evaluate's P dicts, x_real, x_fake) of every GAN's generator, theta_G: (P, n_params_G)
    float32 or float64, on the host or a GPU (copied to the host, in float64: exact), on the
    samples of evaluation_samples. GAN p's dict is the reference's evaluate_generator's."""
    theta_G = device.to_host(theta_G).astype(np.float64)
    x_real, x_fake = evaluation_samples(config, theta_G)
    return evaluate(data.get_dataset(config.base.dataset), x_real, x_fake), x_real, x_fake


def evaluate(distribution: data.Distribution, x_real: np.ndarray, x_fake: np.ndarray) -> list[dict]:
    """All the metrics of every GAN's generated samples x_fake: (P, N, dim) against its data
    samples x_real: (P, M, dim): per GAN, the reference's evaluate dict."""
    return [
        modes
        | {"energy_distance": float(energy)}
        | reference_metrics.image_metrics(distribution, x_fake_p)
        for modes, energy, x_fake_p in zip(
            mode_metrics(distribution, x_fake),
            energy_distance(x_fake, x_real),
            x_fake,
            strict=True,
        )
    ]
