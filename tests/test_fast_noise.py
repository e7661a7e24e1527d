"""fast/noise.py against reference/noise.py on every backend: Philox words and uniforms
bit-identical, normals and instance noise the float64 value rounded once to float32,
sigma = 0 returning x exactly, and the fused real+fake pass equal to two single passes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast import device
from fast import noise as fast_noise
from reference import noise
from tests.strategies import batch_sizes, rng_from, seeds, sigmas, steps, streams
from tests.test_noise import PHILOX_KAT
from tests.tolerance import FLOAT32_EPS, FLOAT64_EPS, assert_close

# A float64 value rounded once to float32 is within half an ulp, so FLOAT32_EPS relative
# covers it, with room for libm's last-bit differences in log, cos and sin (~FLOAT64_EPS).
ONE_ROUNDING = FLOAT32_EPS
TINY = float(np.finfo(np.float32).tiny)  # atol where exact zeros may occur
seed_lists = st.lists(seeds, min_size=1, max_size=3)


def keys_of(seed_list) -> np.ndarray:
    return np.stack([noise.key_from_seed(seed) for seed in seed_list])


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_known_answers(backend, counter, key, expected):
    counter = device.to_device(np.array([counter], np.uint32), backend)
    out = device.to_host(fast_noise.philox4x32(counter, np.array(key, np.uint32)))
    assert np.array_equal(out[0], np.array(expected, np.uint32))


@given(rounds=st.integers(1, 12), data=st.data())
def test_philox_any_counter_and_rounds_is_bit_identical(backend, rounds, data):
    rng = rng_from(data.draw)
    counter = rng.integers(0, 2**32, size=(9, 4), dtype=np.uint32)
    key = rng.integers(0, 2**32, size=2, dtype=np.uint32)
    out = fast_noise.philox4x32(device.to_device(counter, backend), key, rounds)
    assert np.array_equal(device.to_host(out), noise.philox4x32(counter, key, rounds))


@given(seed_list=seed_lists, step=steps, stream=streams, n=st.integers(1, 1030))
def test_words_and_uniforms_are_bit_identical(backend, seed_list, step, stream, n):
    keys = device.to_device(keys_of(seed_list), backend)
    words = device.to_host(fast_noise.random_words(keys, step, stream, n))
    uniforms = device.to_host(fast_noise.uniform(keys, step, stream, n))
    for p, key in enumerate(keys_of(seed_list)):
        assert np.array_equal(words[p], noise.random_words(key, step, stream, n))
        assert np.array_equal(uniforms[p], noise.uniform(key, step, stream, n))


@given(seed_list=seed_lists, step=steps, stream=streams, shape=st.sampled_from([(1,), (5, 3)]))
def test_normals_are_the_reference_rounded_once(backend, seed_list, step, stream, shape):
    keys = device.to_device(keys_of(seed_list), backend)
    normals = device.to_host(fast_noise.normal(keys, step, stream, shape))
    assert normals.shape == (len(seed_list), *shape) and normals.dtype == np.float32
    for p, key in enumerate(keys_of(seed_list)):
        expected = noise.normal(key, step, stream, shape)
        assert_close("normal", normals[p], expected, atol=TINY, rtol=ONE_ROUNDING)


@given(seed_list=seed_lists, step=steps, stream=streams, sigma=sigmas, batch=batch_sizes,
       dim=st.integers(1, 3), data=st.data())  # fmt: skip
def test_instance_noise_is_the_reference_rounded_once(
    backend, seed_list, step, stream, sigma, batch, dim, data
):
    P = len(seed_list)
    x = rng_from(data.draw).standard_normal((P, batch, dim)).astype(np.float32)
    sigma_p = np.full(P, sigma, dtype=np.float32)
    out = device.to_host(
        fast_noise.add_instance_noise(
            *(device.to_device(a, backend) for a in (x, sigma_p, keys_of(seed_list))),
            step,
            stream,
        )
    )
    for p, key in enumerate(keys_of(seed_list)):
        expected = noise.add_instance_noise(
            x[p].astype(np.float64), float(sigma_p[p]), key, step, stream
        )
        # x + sigma eps is formed in float64 (error a few FLOAT64_EPS of the terms, and
        # |eps| < 7 always: Box-Muller's radius is at most sqrt(-2 log 2**-33)), rounded once
        atol = 4 * FLOAT64_EPS * (np.abs(x[p]).max() + 7 * sigma) + TINY
        assert_close("x_noisy", out[p], expected, atol=atol, rtol=ONE_ROUNDING)
    if sigma == 0.0:
        assert np.array_equal(out, x)


@given(seed_list=seed_lists, step=steps, batch=batch_sizes, dim=st.integers(1, 3),
       substep=st.integers(0, 2), data=st.data())  # fmt: skip
def test_noisy_discriminator_input_is_both_single_passes(
    backend, seed_list, step, batch, dim, substep, data
):
    P, rng = len(seed_list), rng_from(data.draw)
    x_real, x_fake = (
        device.to_device(rng.standard_normal((P, batch, dim)).astype(np.float32), backend)
        for _ in "rf"
    )
    sigma = device.to_device(np.linspace(0.0, 1.0, P, dtype=np.float32), backend)
    keys = device.to_device(keys_of(seed_list), backend)
    real = noise.stream_id(noise.Stream.REAL_NOISE, substep)
    fake = noise.stream_id(noise.Stream.FAKE_NOISE, substep)
    both = fast_noise.noisy_discriminator_input(x_real, x_fake, sigma, keys, step, real, fake)
    # the same per-element arithmetic, so the same bits, not merely close ones
    single_real = fast_noise.add_instance_noise(x_real, sigma, keys, step, real)
    single_fake = fast_noise.add_instance_noise(x_fake, sigma, keys, step, fake)
    assert np.array_equal(device.to_host(both)[:, :batch], device.to_host(single_real))
    assert np.array_equal(device.to_host(both)[:, batch:], device.to_host(single_fake))
