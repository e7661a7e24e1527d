"""Tests of reference/data.py: the samplers draw what the descriptions say (component
weights, means and stds within bands set by the sample size; exact zeros where a std is
zero; exactly on the circle), and a batch is a pure function of (seed, step, substep)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import data, philox
from reference.philox import Stream, SubstepRandom
from tests.strategies import seeds, steps
from tests.tolerance import FLOAT64_EPS, assert_close

N_SAMPLES = 2**16
# Components far apart relative to their stds, with unequal weights, so that the
# inverse-CDF choice and the weight normalisation are both exercised.
UNEQUAL = data.mixture([[-20.0, 0.0], [0.0, 5.0], [20.0, -5.0]], [0.5, 1.0, 2.0], [1.0, 2.0, 5.0])


def nearest_component(distribution: data.Mixture, x: np.ndarray) -> np.ndarray:
    """(N,) index of the nearest mean; exact whenever components are many stds apart."""
    return np.argmin(((x[:, None, :] - distribution.means[None]) ** 2).sum(axis=2), axis=1)


@pytest.mark.parametrize("name", ["ring", "grid", "ring3d", "ring32d", "points", "unequal"])
def test_mixture_samples_match_the_description(name):
    distribution = UNEQUAL if name == "unequal" else data.get_dataset(name)
    x = data.sample(distribution, SubstepRandom(philox.key_from_seed(1), 0, 0), N_SAMPLES)
    assert x.shape == (N_SAMPLES, distribution.dim)
    component = nearest_component(distribution, x)
    for k, weight in enumerate(distribution.weights):
        mine, mean, std = x[component == k], distribution.means[k], distribution.stds[k]
        n_k = len(mine)
        # 5 binomial standard errors: a false alarm has probability ~ 6e-7 per component.
        assert abs(n_k / N_SAMPLES - weight) < 5.0 * np.sqrt(weight * (1.0 - weight) / N_SAMPLES)
        # 5 standard errors of the sample mean (std / sqrt(n_k)) and of the sample std of a
        # Gaussian (std / sqrt(2 n_k)); where a std is 0 both bands demand exact equality.
        assert np.all(np.abs(mine.mean(axis=0) - mean) <= 5.0 * std / np.sqrt(n_k))
        assert np.all(np.abs(mine.std(axis=0) - std) <= 5.0 * std / np.sqrt(2.0 * n_k))
        flat = std == 0.0
        assert np.all(mine[:, flat] == mean[flat])


def test_component_choice_is_inverse_cdf_with_the_boundary_going_up():
    # Component k is chosen when cumulative[k - 1] <= u < cumulative[k]. Put the boundary
    # exactly on one drawn uniform: that sample must take the upper component, the
    # convention the fast path's searchsorted must reproduce bit for bit.
    key, n = philox.key_from_seed(9), 64
    u = philox.uniform(key, 0, philox.stream_id(Stream.DATA_CHOICE, 0), n)
    points = data.Mixture(np.array([[-1.0], [1.0]]), np.zeros((2, 1)), np.array([u[0], 1 - u[0]]))
    x = data.sample(points, SubstepRandom(key, 0, 0), n)
    assert np.array_equal(x[:, 0], np.where(u < u[0], -1.0, 1.0))
    assert x[0, 0] == 1.0


@pytest.mark.parametrize("dim", data.RING_DIMENSIONS)
def test_the_ring_in_d_dimensions_has_exactly_zero_spread_off_its_plane(dim):
    ring = data.get_dataset(f"ring{dim}d")
    x = data.sample(ring, SubstepRandom(philox.key_from_seed(5), 3, 1), 4096)
    assert x.shape == (4096, dim) and np.all(x[:, 2:] == 0.0)
    assert np.all(x[:, :2].std(axis=0) > 1.0)  # while the ring itself spreads over radius 2


@pytest.mark.parametrize("dim", [2, *data.RING_DIMENSIONS])
def test_the_ring_in_d_dimensions_is_the_ring_in_its_first_two_axes(dim):
    # The description the sampler and the metrics read: the ring's means, stds and weights,
    # with zeros appended, bit for bit; in 2 dimensions it is the ring, samples and all.
    ring, embedded = data.get_dataset("ring"), data.ring_in(dim)
    assert np.array_equal(embedded.means[:, :2], ring.means)
    assert np.array_equal(embedded.stds[:, :2], ring.stds)
    assert np.array_equal(embedded.weights, ring.weights)
    assert not embedded.means[:, 2:].any() and not embedded.stds[:, 2:].any()
    if dim == 2:
        rng = SubstepRandom(philox.key_from_seed(7), 2, 0)
        assert np.array_equal(data.sample(embedded, rng, 512), data.sample(ring, rng, 512))


def test_circle_samples_lie_on_the_circle_and_cover_it_uniformly():
    circle = data.get_dataset("circle")
    key, n = philox.key_from_seed(2), N_SAMPLES
    x = data.sample(circle, SubstepRandom(key, 4, 0), n)
    # r cos, r sin and the norm each round once or twice: a few eps relative to the radius.
    assert_close(
        "radius", np.hypot(x[:, 0], x[:, 1]), np.full(n, circle.radius), 0.0, 4 * FLOAT64_EPS
    )
    # The angle is 2 pi times the DATA_CHOICE uniform, the stream the fast path must share.
    u = philox.uniform(key, 4, philox.stream_id(Stream.DATA_CHOICE, 0), n)
    angle = 2.0 * np.pi * u
    expected = circle.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    assert np.array_equal(x, expected)
    # A uniform angle: cos and sin have mean 0 and variance 1/2, so 5 standard errors.
    assert np.all(np.abs(x.mean(axis=0)) < 5.0 * circle.radius * np.sqrt(0.5 / n))


@given(seed=seeds, step=steps, substep=st.integers(0, 5), n=st.integers(1, 50))
def test_samples_are_a_pure_function_of_seed_step_substep(seed, step, substep, n):
    key = philox.key_from_seed(seed)
    for distribution in data.TOYS.values():
        first = data.sample(distribution, SubstepRandom(key, step, substep), n)
        # A fresh SubstepRandom of the same (seed, step, substep): no state is carried.
        again = data.sample(distribution, SubstepRandom(key, step, substep), n)
        # Prefix-stable: a larger batch starts with the same samples.
        longer = data.sample(distribution, SubstepRandom(key, step, substep), n + 3)
        assert np.array_equal(first, again) and np.array_equal(first, longer[:n])


def test_samples_differ_across_substeps_and_steps():
    key, ring = philox.key_from_seed(0), data.get_dataset("ring")
    base = data.sample(ring, SubstepRandom(key, 0, 0), 64)
    # Continuous Gaussian offsets coincide with probability 0 (up to float64 resolution).
    assert np.all(base != data.sample(ring, SubstepRandom(key, 0, 1), 64))
    assert np.all(base != data.sample(ring, SubstepRandom(key, 1, 0), 64))


def test_mixture_normalises_weights_and_broadcasts_stds():
    means = [[0.0, 0.0], [1.0, 1.0]]
    assert np.array_equal(data.mixture(means, 0.5).stds, np.full((2, 2), 0.5))
    assert np.array_equal(data.mixture(means, [0.1, 0.2]).stds, [[0.1, 0.1], [0.2, 0.2]])
    assert np.array_equal(data.mixture(means, [[0.1, 0.2], [0.3, 0.4]]).stds[1], [0.3, 0.4])
    assert np.array_equal(data.mixture(means, 0.1, [1.0, 3.0]).weights, [0.25, 0.75])
    assert np.array_equal(data.mixture(means, 0.1).weights, [0.5, 0.5])


def test_get_dataset_rejects_unknown_names_naming_them():
    with pytest.raises(ValueError, match="swiss_roll"):
        data.get_dataset("swiss_roll")
    for name in data.TOYS:
        assert data.get_dataset(name) is data.TOYS[name]
