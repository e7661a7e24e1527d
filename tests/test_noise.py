"""Tests of reference/noise.py: instance noise at sigma = 0 is exactly the input and otherwise
sigma times the normals of the substep's stream of its kind; label-noise targets without and
with certain flips, the empirical flip rate, and which labels flip (the LABEL_FLIP stream);
the sigma schedules at their landmarks, before, at and past the end of the annealing, are
monotone and non-negative, and reject an unknown schedule."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import noise, philox
from reference.philox import Stream, SubstepRandom
from tests.strategies import batch_sizes, seeds, sigmas, steps, stream_kinds, substeps
from tests.tolerance import FLOAT64_EPS, assert_close


@given(
    seed=seeds,
    step=steps,
    substep=substeps,
    kind=stream_kinds,
    rows=st.integers(1, 7),
    cols=st.integers(1, 3),
)
def test_instance_noise_at_sigma_zero_is_exactly_the_input(seed, step, substep, kind, rows, cols):
    rng = SubstepRandom(philox.key_from_seed(seed), step, substep)
    values = np.random.default_rng(seed % 2**32)
    x = values.normal(size=(rows, cols)) * 10.0 ** values.integers(-300, 300, size=(rows, cols))
    assert np.array_equal(noise.add_instance_noise(x, 0.0, rng, kind), x)


@given(seed=seeds, step=steps, substep=substeps, kind=stream_kinds, sigma=sigmas)
def test_instance_noise_is_sigma_times_the_stream_normals(seed, step, substep, kind, sigma):
    key, shape = philox.key_from_seed(seed), (5, 3)
    rng = SubstepRandom(key, step, substep)
    noisy = noise.add_instance_noise(np.zeros(shape), sigma, rng, kind)
    stream = philox.stream_id(kind, substep)
    assert np.array_equal(noisy, sigma * philox.normal(key, step, stream, shape))


@given(seed=seeds, batch=batch_sizes, smoothing=st.sampled_from((1.0, 0.9, 0.75)))
def test_targets_without_flips_and_with_certain_flips(seed, batch, smoothing):
    rng = SubstepRandom(philox.key_from_seed(seed), 3, 1)
    real, fake = noise.label_noise_targets(batch, smoothing, 0.0, rng)
    assert np.array_equal(real, np.full(batch, smoothing)) and np.array_equal(fake, np.zeros(batch))
    # Uniforms are < 1 always, so label_flip = 1 flips every label; smoothing is one-sided
    # and follows the label that reads 'real'.
    real, fake = noise.label_noise_targets(batch, smoothing, 1.0, rng)
    assert np.array_equal(real, np.zeros(batch)) and np.array_equal(fake, np.full(batch, smoothing))


@pytest.mark.parametrize("label_flip", [0.05, 0.3])
def test_empirical_flip_rate_matches_label_flip(label_flip):
    batch, key = 2**14, philox.key_from_seed(4)
    real, fake = noise.label_noise_targets(batch, 1.0, label_flip, SubstepRandom(key, 0, 0))
    flipped = np.concatenate([real == 0.0, fake == 1.0])
    # 5 binomial standard errors over 2B labels: a false alarm has probability ~ 6e-7.
    band = 5.0 * np.sqrt(label_flip * (1.0 - label_flip) / (2 * batch))
    assert abs(flipped.mean() - label_flip) < band
    # Which labels flip is decided by the LABEL_FLIP stream, real first then fake: the
    # contract the fast path reproduces bit for bit.
    u = philox.uniform(key, 0, philox.stream_id(Stream.LABEL_FLIP, 0), 2 * batch)
    assert np.array_equal(flipped, u < label_flip)


@given(sigma0=st.floats(1e-3, 10.0), anneal_steps=st.integers(2, 10_000).map(lambda n: 2 * n))
def test_sigma_schedules_at_landmarks(sigma0, anneal_steps):
    def at(anneal, step):
        return noise.sigma_schedule(sigma0, anneal, anneal_steps, step)

    half, end = anneal_steps // 2, anneal_steps
    # A handful of float64 operations each (0.01 ** 3 included): a few eps of relative rounding.
    rtol = 8 * FLOAT64_EPS
    for anneal in noise.ANNEAL_SCHEDULES:
        assert at(anneal, 0) == sigma0
    assert_close("linear half", at("linear", half), sigma0 / 2, atol=0.0, rtol=rtol)
    assert_close("exp half", at("exponential", half), sigma0 * 0.1, atol=0.0, rtol=rtol)
    assert_close("exp end", at("exponential", end), sigma0 * 0.01, atol=0.0, rtol=rtol)
    # Past the end: none stays at sigma0, linear stays at 0, and exponential keeps falling,
    # sigma0 * 0.01 ** (step / anneal_steps), rather than holding its value at the end.
    for past in (end, end + 1, 2 * end, 3 * end):
        assert at("none", past) == sigma0
        assert at("linear", past) == 0.0
    assert at("exponential", end + 1) < at("exponential", end)
    assert_close("exp 2 x end", at("exponential", 2 * end), sigma0 * 1e-4, atol=0.0, rtol=rtol)
    assert_close("exp 3 x end", at("exponential", 3 * end), sigma0 * 1e-6, atol=0.0, rtol=rtol)


@given(sigma0=st.floats(1e-3, 10.0), anneal_steps=st.integers(1, 500))
def test_sigma_schedules_are_monotone_and_non_negative(sigma0, anneal_steps):
    step = np.arange(3 * anneal_steps)
    for anneal in noise.ANNEAL_SCHEDULES:
        values = np.array([noise.sigma_schedule(sigma0, anneal, anneal_steps, s) for s in step])
        assert np.all(values >= 0.0) and np.all(np.diff(values) <= 0.0)


def test_sigma_schedule_rejects_an_unknown_anneal():
    with pytest.raises(ValueError, match="cosine"):
        noise.sigma_schedule(1.0, "cosine", 10, 0)
