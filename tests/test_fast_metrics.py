"""fast/metrics.py: a population's evaluation is, GAN by GAN, the reference's
evaluate_generator (the same samples bit for bit, the same mode metrics exactly, the energy
distance to float64 summation order, for sample sets of equal or different sizes), and a
GAN's metrics do not depend on the population it is evaluated in (what lets run.py and the
sweep call GAN p of a population its own run)."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from fast import gan as fast_gan
from fast import metrics as fast_metrics
from reference import data, metrics
from reference.config import GANConfig
from tests.tolerance import FLOAT64_EPS, assert_close

STEPS = 300  # enough to pull samples onto some modes and leave others empty
SEEDS_AND_NOISES = ((0, 0.0), (1, 0.1), (2, 0.2))  # three GANs that differ in both
EXACT = ("modes_captured", "modes_total", "high_quality_fraction", "reverse_kl", "mode_counts")


def trained_population(dataset: str) -> tuple[fast_gan.PopulationConfig, np.ndarray]:
    """Small GANs of SEEDS_AND_NOISES on the dataset after STEPS fast steps (a fraction of a
    second), as a population, and its theta_G."""
    config = fast_gan.PopulationConfig(tuple(
        GANConfig(dataset=dataset, seed=seed, sigma0=sigma0, steps=STEPS, batch=64,
                      hidden=16, latent=4)
        for seed, sigma0 in SEEDS_AND_NOISES))  # fmt: skip
    state = fast_gan.init_state(config, "cpu")
    for step in range(STEPS):
        fast_gan.train_step(config, state, step)
    return config, state.theta_G


@pytest.mark.parametrize("dataset", list(data.TOYS))
def test_a_population_is_evaluated_as_the_reference_evaluates_each_gan(dataset):
    config, theta_G = trained_population(dataset)
    results, x_real, x_fake = fast_metrics.evaluate_generator(config, theta_G)
    assert len(results) == config.size
    for p, member in enumerate(config.members):
        expected, real, fake = metrics.evaluate_generator(member, theta_G[p].astype(np.float64))
        # The same Philox words through the reference's float64 formulas, and G's forward by
        # the reference's function on the same z: the same samples.
        np.testing.assert_array_equal(x_real[p], real, err_msg=f"x_real of GAN {p}")
        np.testing.assert_array_equal(x_fake[p], fake, err_msg=f"x_fake of GAN {p}")
        # The same samples through the reference's mode_metrics: equal, not close.
        assert {name: results[p][name] for name in EXACT} == {
            name: expected[name] for name in EXACT
        }, f"GAN {p}"
        assert_close(f"energy_distance of GAN {p}", results[p]["energy_distance"],
                     expected["energy_distance"], energy_tolerance(fake, real), 0.0)  # fmt: skip


def energy_tolerance(x: np.ndarray, y: np.ndarray) -> float:
    """How far the fast and the reference energy distance of x: (N, dim), y: (M, dim) may be
    apart. Each side's E = 2 mean|x-y| - mean|x-x'| - mean|y-y'| is within (h + dim + 5) u of
    the exact value times terms = 2 mean|x-y| + mean|x-x'| + mean|y-y'|: each distance within
    (dim + 2) u, a sum tree of height h adds h u (Higham 2002, sec. 4.2; here h <= 2 max(N,
    M): a row of up to max(N, M) terms, then up to max(N, M) rows; NumPy's pairwise sums are
    lower), the divisions u, E's two subtractions 2 u. Two sides, u = eps / 2: (2 max(N, M)
    + dim + 5) eps terms."""
    N, M, dim = x.shape[0], y.shape[0], x.shape[1]
    terms = 2.0 * cdist(x, y).mean() + pdist(x).mean() + pdist(y).mean()
    return (2 * max(N, M) + dim + 5) * FLOAT64_EPS * terms


@pytest.mark.parametrize(("N", "M"), [(5, 12), (12, 5)])
def test_energy_distance_of_sets_of_different_sizes_is_the_references(N, M):
    # Runs evaluate N = M samples, where a within-set mean divided by the other set's pair
    # count goes unseen; two laws of different spreads give the within-set means weight
    rng = np.random.default_rng(N)
    x, y = rng.normal(0.0, 1.0, (2, N, 3)), rng.normal(1.0, 3.0, (2, M, 3))
    energy = fast_metrics.energy_distance(x, y)
    for p in range(2):
        expected = metrics.energy_distance(x[p], y[p])
        assert_close(f"energy_distance of pair {p}", energy[p], expected,
                     energy_tolerance(x[p], y[p]), 0.0)  # fmt: skip


def test_a_gans_metrics_do_not_depend_on_its_population():
    config, theta_G = trained_population("ring")
    together, _, _ = fast_metrics.evaluate_generator(config, theta_G)
    for p, member in enumerate(config.members):
        alone, _, _ = fast_metrics.evaluate_generator(
            fast_gan.PopulationConfig((member,)), theta_G[p : p + 1]
        )
        assert alone == [together[p]], f"GAN {p}"
