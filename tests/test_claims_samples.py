"""Claim 5, theory against samples: batches drawn the way the GAN draws them
(reference/data.py's samplers plus reference/noise.py's instance noise) follow the closed-form
noisy densities, in 1-D and 2-D, and the closed-form D* is the calibrated posterior of 'real'.

Every check is a count against its expectation with a band of 5 binomial standard errors
(a false alarm has probability ~ 6e-7 per cell); cells expecting fewer than 5 samples are
pooled into one, so that a single stray sample in a far tail cannot fail a test."""

import itertools

import numpy as np
from hypothesis import given

from reference import data, theory
from reference.philox import Stream, SubstepRandom, key_from_seed
from tests.strategies import seeds
from tests.strategies_theory import mixtures_1d, sigmas

N_SAMPLES = 2**14
Z = 5.0  # standard errors per cell
# Cell probabilities come from the trapezoid rule with 8 points per noisy std: relative
# error ~ h^2 / 12 * |f'' / f| ~ (1/64) / 12 ~ 1e-3, allowed on top of the binomial band.
QUADRATURE_RTOL = 2e-3


def assert_counts_match(name: str, counts: np.ndarray, probabilities: np.ndarray, n: int):
    """counts, probabilities: (K,) per cell; cells with n P < 5 are pooled."""
    expected = n * probabilities
    sparse = expected < 5.0
    counts = np.append(counts[~sparse], counts[sparse].sum())
    expected = np.append(expected[~sparse], expected[sparse].sum())
    p = expected / n
    band = Z * np.sqrt(n * p * (1 - p)) + QUADRATURE_RTOL * expected
    worst = int(np.argmax(np.abs(counts - expected) - band))
    assert np.all(np.abs(counts - expected) <= band), (
        f"{name}: cell {worst} holds {counts[worst]}, expected {expected[worst]:.1f} +- "
        f"{band[worst]:.1f}"
    )


def trapezoid_cells(values: np.ndarray, edges: np.ndarray, spacing: float) -> np.ndarray:
    """values on an even 1-D grid, cells [edges[j], edges[j + 1]] as grid indices -> (J,)
    trapezoid integrals, so the cells tile the grid exactly."""
    return np.array(
        [np.trapezoid(values[a : b + 1], dx=spacing) for a, b in itertools.pairwise(edges)]
    )


def grid_cells(n_points: int, n_cells: int) -> np.ndarray:
    """Indices of cell edges on a grid of n_points: n_cells cells covering it whole."""
    return np.unique(np.linspace(0, n_points - 1, n_cells + 1).round().astype(int))


@given(mixtures_1d(), sigmas, seeds)
def test_noisy_samples_follow_the_noisy_density_in_one_dimension(p, sigma, seed):
    rng = SubstepRandom(key_from_seed(seed), 0, 0)
    x = theory.sample_noisy(p, sigma, rng, Stream.REAL_NOISE, N_SAMPLES)
    grid, spacing = theory.quadrature_grid(p, p, sigma)
    density = np.exp(theory.log_density(theory.noisy(p, sigma), grid))
    edges = grid_cells(len(grid), 40)
    counts, _ = np.histogram(x[:, 0], bins=grid[edges, 0])
    assert counts.sum() == N_SAMPLES  # the grid reaches 12 stds: nothing falls outside
    assert_counts_match("1-D cells", counts, trapezoid_cells(density, edges, spacing), N_SAMPLES)


def test_noisy_ring_samples_follow_the_noisy_density_in_two_dimensions():
    ring = data.get_dataset("ring")
    for sigma, seed in ((0.1, 1), (0.5, 2)):
        rng = SubstepRandom(key_from_seed(seed), 3, 1)
        x = theory.sample_noisy(ring, sigma, rng, Stream.FAKE_NOISE, N_SAMPLES)
        axis, spacing = theory.quadrature_grid(
            *(data.Mixture(ring.means[:, :1], ring.stds[:, :1], ring.weights),) * 2, sigma
        )  # the x-marginal's grid; the ring is symmetric, so it serves both axes
        points = np.stack(np.meshgrid(axis[:, 0], axis[:, 0], indexing="ij"), axis=-1)
        density = np.exp(theory.log_density(theory.noisy(ring, sigma), points.reshape(-1, 2)))
        density = density.reshape(len(axis), len(axis))
        edges = grid_cells(len(axis), 12)
        rows = np.stack([trapezoid_cells(column, edges, spacing) for column in density.T], axis=1)
        cells = np.stack([trapezoid_cells(row, edges, spacing) for row in rows])  # (12, 12)
        counts, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[axis[edges, 0]] * 2)
        assert_counts_match(f"2-D cells, sigma {sigma}", counts.ravel(), cells.ravel(), N_SAMPLES)


@given(mixtures_1d(), mixtures_1d(), sigmas, seeds)
def test_the_optimal_discriminator_is_the_calibrated_posterior(p, q, sigma, seed):
    # Among noisy samples, half real and half fake, those with D*(x) in a bin are real with
    # the bin's mean D*: the closed-form likelihood ratio is what the samples say.
    key = key_from_seed(seed)
    x_real = theory.sample_noisy(p, sigma, SubstepRandom(key, 0, 0), Stream.REAL_NOISE, N_SAMPLES)
    x_fake = theory.sample_noisy(q, sigma, SubstepRandom(key, 0, 1), Stream.FAKE_NOISE, N_SAMPLES)
    d_star = theory.optimal_discriminator(p, q, sigma, np.concatenate([x_real, x_fake]))
    is_real = np.arange(2 * N_SAMPLES) < N_SAMPLES
    which = np.minimum((d_star * 10).astype(int), 9)  # ten bins of D*
    for b in np.unique(which):
        in_bin = which == b
        n_bin = int(in_bin.sum())
        expected = d_star[in_bin].sum()
        spread = np.sqrt(np.sum(d_star[in_bin] * (1 - d_star[in_bin])))
        # Given the x, the labels are at most as spread as independent Bernoulli(D*) draws
        # (real and fake are drawn in equal numbers); +1 for a count's discreteness.
        assert abs(is_real[in_bin].sum() - expected) <= Z * spread + 1.0, (
            f"bin {b}, {n_bin} samples"
        )
