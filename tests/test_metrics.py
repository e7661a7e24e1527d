"""reference/metrics.py: the metrics score exact data as perfect, collapse and garbage as
they should, follow the documented thresholds at their edges, and are a pure function of
the run's arguments; `evaluate` scores the generated samples, not the data, on known
answers: a generator collapsed on one mode of the ring, and fresh data in its place; and
summary_by_sigma0 pools the GANs of each (sigma0, gamma) level, no other."""

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import chi2

from reference import data, gan, metrics
from reference.config import MAX_STEPS, ConfigError, GANConfig
from reference.philox import SubstepRandom, key_from_seed
from tests.tolerance import FLOAT64_EPS, assert_close

N = metrics.EVAL_SAMPLES
# P(|x - mean| <= 3 std) for an isotropic 2-D Gaussian: 1 - exp(-9 / 2).
GAUSSIAN_2D_INSIDE_3_STD = 1.0 - np.exp(-4.5)


def data_samples(name: str, step: int = 0) -> np.ndarray:
    return data.sample(data.get_dataset(name), SubstepRandom(key_from_seed(7), step, 0), N)


def assert_scores_as_perfect(name: str, result: dict) -> None:
    """The mode metrics of N samples of the dataset itself: every mode captured, the
    high-quality fraction and the reverse KL what exact samples give, within their spread."""
    distribution = data.get_dataset(name)
    assert result["modes_captured"] == result["modes_total"]
    assert sum(result["mode_counts"]) == N
    if isinstance(distribution, data.Circle) or name == "points":
        # Samples lie exactly on the curve or the point masses: all of them are high quality.
        assert result["high_quality_fraction"] == 1.0
    else:
        # Binomial(N, p) fraction: 6 standard deviations keep a false failure below 1e-8.
        p = GAUSSIAN_2D_INSIDE_3_STD
        assert abs(result["high_quality_fraction"] - p) <= 6.0 * np.sqrt(p * (1 - p) / N)
    # 2 N KL(empirical || true) is asymptotically chi-squared with K - 1 degrees of freedom.
    bound = chi2.ppf(1.0 - 1e-8, result["modes_total"] - 1) / (2 * N)
    assert 0.0 <= result["reverse_kl"] <= bound


@pytest.mark.parametrize("name", list(data.TOYS))
def test_data_itself_scores_as_a_perfect_generator(name):
    assert_scores_as_perfect(name, metrics.mode_metrics(data.get_dataset(name), data_samples(name)))


@pytest.mark.parametrize("name", list(data.TOYS))
def test_evaluate_scores_fresh_data_in_place_of_the_generator_as_perfect(name):
    x_real, x_fake = data_samples(name, 0), data_samples(name, 1)
    result = metrics.evaluate(data.get_dataset(name), x_real, x_fake)
    assert_scores_as_perfect(name, result)
    # Two samples of one law: the energy distance's three terms estimate the same E|X - X'|
    # without bias, so it has mean 0, and as a degenerate U-statistic a standard deviation
    # of at most 2 sqrt(2) E|X - X'| / N (sum_j lambda_j^2 <= (sum_j lambda_j)^2 in its
    # chi-squared expansion); 6 of those, with E|X - X'| estimated from the data.
    spread = 2.0 * np.sqrt(2.0) * pdist(x_real).mean() / N
    assert abs(result["energy_distance"]) <= 6.0 * spread


def test_evaluate_scores_a_generator_collapsed_on_one_mode_not_the_data():
    # The generator put every sample within one std (per axis) of mode k; the data is the ring.
    ring, k = data.get_dataset("ring"), 4
    std = ring.stds[k, 0]
    x_real = data_samples("ring")
    x_fake = ring.means[k] + np.random.default_rng(0).uniform(-std, std, size=(N, 2))
    result = metrics.evaluate(ring, x_real, x_fake)
    # Every fake sample is within sqrt(2) std < 3 std of mode k, and 1.5 away from the others.
    assert result["modes_captured"] == 1 and result["modes_total"] == 8
    assert result["mode_counts"] == [N if j == k else 0 for j in range(8)]
    assert result["high_quality_fraction"] == 1.0
    # KL(delta_k || uniform over 8) = log 8; one log and one division: a few eps.
    assert_close("reverse_kl", result["reverse_kl"], np.log(8.0), 0, 4 * FLOAT64_EPS)
    # Energy distance: with every mode a point, 2 E|m_k - Y| - E|Y - Y'| - 0 is the mean chord
    # c from m_k (E|m_j - Y| = c from every j, by symmetry). The modes' spread and the jitter
    # move each mean distance by at most their mean size (the triangle inequality): under
    # 8 std in all. The multinomial mode counts move 2 mean |x_fake - y| by 2 std(chords) /
    # sqrt(N) (the within-data term is flat to first order): 5 of those.
    chords = np.linalg.norm(ring.means - ring.means[k], axis=1)
    band = 5.0 * 2.0 * chords.std() / np.sqrt(N) + 8.0 * std
    assert_close("energy_distance", result["energy_distance"], chords.mean(), band, 0.0)


@pytest.mark.parametrize("name", ["ring", "grid", "ring3d", "ring32d"])
def test_collapse_onto_one_mode(name):
    distribution = data.get_dataset(name)
    k = len(distribution.means) // 2
    result = metrics.mode_metrics(distribution, np.repeat(distribution.means[k : k + 1], 50, 0))
    assert result["modes_captured"] == 1
    assert result["high_quality_fraction"] == 1.0
    assert result["mode_counts"][k] == 50
    # KL(delta_k || uniform over K) = log K; one log and one division: a few eps.
    assert_close(
        "reverse_kl", result["reverse_kl"], np.log(result["modes_total"]), 0, 4 * FLOAT64_EPS
    )


def test_samples_between_the_modes_are_low_quality_and_capture_nothing():
    ring = data.get_dataset("ring")
    # Half-way between neighbouring means: far from every mode, still assigned to the nearest.
    x = (ring.means + np.roll(ring.means, 1, axis=0)) / 2
    result = metrics.mode_metrics(ring, x)
    assert result["modes_captured"] == 0
    assert result["high_quality_fraction"] == 0.0


def test_quality_threshold_is_three_stds_and_point_masses_use_the_gap():
    ring, points = data.get_dataset("ring"), data.get_dataset("points")
    std = ring.stds[0, 0]
    inside, outside = ring.means[:1] + [[2.9 * std, 0.0]], ring.means[:1] + [[3.1 * std, 0.0]]
    assert metrics.mode_metrics(ring, inside)["high_quality_fraction"] == 1.0
    assert metrics.mode_metrics(ring, outside)["high_quality_fraction"] == 0.0
    # Point masses at -1 and 1: scale POINT_MASS_SCALE * 2, so the radius is 0.06.
    radius = metrics.QUALITY_STDS * metrics.POINT_MASS_SCALE * 2.0
    x = np.array([[-1.0 + 0.9 * radius], [1.0 - 1.1 * radius]])
    result = metrics.mode_metrics(points, x)
    assert result["high_quality_fraction"] == 0.5
    assert result["modes_captured"] == 1


def test_circle_arcs_and_radial_tolerance():
    circle = data.get_dataset("circle")
    width = metrics.CIRCLE_QUALITY_WIDTH * circle.radius
    # One sample just inside the start of each arc, alternately just inside and just outside
    # the radial tolerance: arcs with an even index are captured.
    arcs = np.arange(metrics.CIRCLE_ARCS)
    angle = 2 * np.pi * (arcs + 0.01) / metrics.CIRCLE_ARCS
    radius = circle.radius + np.where(arcs % 2 == 0, 0.9, 1.1) * width
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    result = metrics.mode_metrics(circle, x)
    assert result["mode_counts"] == [1] * metrics.CIRCLE_ARCS
    assert result["modes_captured"] == metrics.CIRCLE_ARCS // 2
    assert result["high_quality_fraction"] == 0.5
    assert result["reverse_kl"] == pytest.approx(0.0, abs=4 * FLOAT64_EPS)  # sum of 8 log(1)


def test_energy_distance_of_two_point_masses_is_twice_their_distance():
    x, y = np.zeros((5, 2)), np.full((7, 2), [3.0, 4.0])
    # Distances of 5 averaged exactly; the within-set terms are exactly 0.
    assert_close("energy", metrics.energy_distance(x, y), 10.0, 0, 4 * FLOAT64_EPS)


def test_energy_distance_separates_a_shifted_sample_from_a_fresh_one():
    x, fresh = data_samples("ring", 0), data_samples("ring", 1)
    same = metrics.energy_distance(x, fresh)
    shifted = metrics.energy_distance(x, fresh + [0.5, 0.0])
    # U-statistic of two samples of one law: mean 0, spread O(1/N) (a few 1e-3 here); a 0.5
    # shift of a radius-2 ring gives an O(0.1) distance, two orders of magnitude more.
    assert abs(same) < 0.01
    assert shifted > 10 * 0.01


def test_evaluation_samples_are_a_pure_function_of_the_config_apart_from_training_batches():
    config = GANConfig(hidden=8, latent=2)
    theta_G = gan.init_state(config).theta_G
    first, second = (
        metrics.evaluation_samples(config, theta_G),
        metrics.evaluation_samples(config, theta_G),
    )
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    training_batch = data.sample(data.get_dataset("ring"), SubstepRandom(key_from_seed(0), 0, 0), N)
    assert not np.any(np.all(first[0] == training_batch, axis=1))


def test_the_evaluation_step_is_one_no_training_step_reaches():
    # A run has at most MAX_STEPS steps, 0 .. MAX_STEPS - 1; the evaluation draws at the next
    # one, still inside the counter's 32-bit step word.
    assert metrics.EVAL_STEP == MAX_STEPS == 2**32 - 1
    assert GANConfig(steps=MAX_STEPS).steps - 1 < metrics.EVAL_STEP
    with pytest.raises(ConfigError, match="steps"):
        GANConfig(steps=metrics.EVAL_STEP + 1)


def test_summary_by_sigma0_pools_the_gans_of_each_sigma0_and_gamma_and_no_others():
    def gan_row(sigma0, gamma, captured, high_quality, reverse_kl, energy):
        return {"sigma0": sigma0, "gamma": gamma, "modes_captured": captured, "modes_total": 8,
                "high_quality_fraction": high_quality, "reverse_kl": reverse_kl,
                "energy_distance": energy}  # fmt: skip

    # Levels that share a sigma0 and differ in gamma (a penalty's weight) are levels apart;
    # every mean here is exact in binary
    rows = [gan_row(0.1, 0.0, 8, 1.0, 0.5, 0.25), gan_row(0.1, 2.0, 3, 0.5, 2.0, 4.0),
            gan_row(0.1, 0.0, 6, 0.75, 1.5, 0.75),
            gan_row(0.2, 0.0, 8, 0.5, 0.25, 0.5)]  # fmt: skip
    expected = [
        {"sigma0": 0.1, "gamma": 0.0, "gans": 2, "all_modes_fraction": 0.5,
         "mean_modes_captured": 7.0, "mean_high_quality_fraction": 0.875, "mean_reverse_kl": 1.0,
         "mean_energy_distance": 0.5},
        {"sigma0": 0.1, "gamma": 2.0, "gans": 1, "all_modes_fraction": 0.0,
         "mean_modes_captured": 3.0, "mean_high_quality_fraction": 0.5, "mean_reverse_kl": 2.0,
         "mean_energy_distance": 4.0},
        {"sigma0": 0.2, "gamma": 0.0, "gans": 1, "all_modes_fraction": 1.0,
         "mean_modes_captured": 8.0, "mean_high_quality_fraction": 0.5, "mean_reverse_kl": 0.25,
         "mean_energy_distance": 0.5},
    ]  # fmt: skip
    assert metrics.summary_by_sigma0(rows) == expected
