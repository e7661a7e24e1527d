"""fast/philox.py against reference/philox.py on every backend: Philox words and uniforms
bit-identical (the published known answers included), normals the float64 value rounded
once to float32."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast import device
from fast import philox as fast_philox
from reference import philox
from reference.philox import key_from_seed
from tests.strategies import rng_from, seeds, steps, streams
from tests.test_philox import PHILOX_KAT
from tests.tolerance import FLOAT32_EPS, assert_close

# A float64 value rounded once to float32 is within half an ulp, so FLOAT32_EPS relative
# covers it, with room for libm's last-bit differences in log, cos and sin (~FLOAT64_EPS).
ONE_ROUNDING = FLOAT32_EPS
TINY = float(np.finfo(np.float32).tiny)  # atol where exact zeros may occur
seed_lists = st.lists(seeds, min_size=1, max_size=3)


def keys_of(seed_list) -> np.ndarray:
    return np.stack([key_from_seed(seed) for seed in seed_list])


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_known_answers(backend, counter, key, expected):
    counter = device.to_device(np.array([counter], np.uint32), backend)
    out = device.to_host(fast_philox.philox4x32(counter, np.array(key, np.uint32)))
    assert np.array_equal(out[0], np.array(expected, np.uint32))


@given(rounds=st.integers(1, 12), data=st.data())
def test_philox_any_counter_and_rounds_is_bit_identical(backend, rounds, data):
    rng = rng_from(data.draw)
    counter = rng.integers(0, 2**32, size=(9, 4), dtype=np.uint32)
    key = rng.integers(0, 2**32, size=2, dtype=np.uint32)
    out = fast_philox.philox4x32(device.to_device(counter, backend), key, rounds)
    assert np.array_equal(device.to_host(out), philox.philox4x32(counter, key, rounds))


@given(seed_list=seed_lists, step=steps, stream=streams, n=st.integers(1, 1030))
def test_words_and_uniforms_are_bit_identical(backend, seed_list, step, stream, n):
    keys = device.to_device(keys_of(seed_list), backend)
    words = device.to_host(fast_philox.random_words(keys, step, stream, n))
    uniforms = device.to_host(fast_philox.uniform(keys, step, stream, n))
    for p, key in enumerate(keys_of(seed_list)):
        assert np.array_equal(words[p], philox.random_words(key, step, stream, n))
        assert np.array_equal(uniforms[p], philox.uniform(key, step, stream, n))


@given(seed_list=seed_lists, step=steps, stream=streams, shape=st.sampled_from([(1,), (5, 3)]))
def test_normals_are_the_reference_rounded_once(backend, seed_list, step, stream, shape):
    keys = device.to_device(keys_of(seed_list), backend)
    normals = device.to_host(fast_philox.normal(keys, step, stream, shape))
    assert normals.shape == (len(seed_list), *shape) and normals.dtype == np.float32
    for p, key in enumerate(keys_of(seed_list)):
        expected = philox.normal(key, step, stream, shape)
        assert_close("normal", normals[p], expected, atol=TINY, rtol=ONE_ROUNDING)


@given(seed_list=seed_lists, step=steps, substep=st.integers(0, 2), rows=st.integers(1, 9))
def test_substep_normal_is_every_keys_substep_random_normal(
    backend, seed_list, step, substep, rows
):
    keys = device.to_device(keys_of(seed_list), backend)
    rng = philox.SubstepRandom(keys, step, substep)
    normals = device.to_host(fast_philox.substep_normal(rng, philox.Stream.LATENT, (rows, 3)))
    for p, key in enumerate(keys_of(seed_list)):
        expected = philox.SubstepRandom(key, step, substep).normal(philox.Stream.LATENT, (rows, 3))
        assert_close("normal", normals[p], expected, atol=TINY, rtol=ONE_ROUNDING)


@given(seed=seeds, step=steps, stream=streams, n=st.integers(1, 40), cut=st.floats(0.0, 1.0))
def test_normals_drawn_in_two_ranges_are_the_normals_drawn_whole(seed, step, stream, n, cut):
    # The fused CPU step draws each part's latents on its own thread (fast.device.SHARES).
    k0, k1 = key_from_seed(seed)
    whole = np.full(n, np.nan, np.float32)
    fast_philox.normal_one(whole, k0, k1, step, stream, 0, n)
    middle = int(cut * n)
    for first, stop in ((0, middle), (middle, n)):  # each into a fresh buffer
        part = np.full(n, np.nan, np.float32)
        fast_philox.normal_one(part, k0, k1, step, stream, first, stop)
        assert np.array_equal(part[first:stop], whole[first:stop])
        assert np.isnan(part[:first]).all() and np.isnan(part[stop:]).all()
