"""fast/noise.py against reference/noise.py on every backend: instance noise the float64
value rounded once to float32, sigma = 0 returning x exactly, and the fused real+fake pass
equal to two single passes."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fast import device
from fast import noise as fast_noise
from reference import noise
from reference.philox import Stream, SubstepRandom, key_from_seed, stream_id
from tests.strategies import batch_sizes, rng_from, seeds, sigmas, steps
from tests.tolerance import FLOAT32_EPS, FLOAT64_EPS, assert_close

# A float64 value rounded once to float32 is within half an ulp, so FLOAT32_EPS relative
# covers it, with room for libm's last-bit differences in log, cos and sin (~FLOAT64_EPS).
ONE_ROUNDING = FLOAT32_EPS
TINY = float(np.finfo(np.float32).tiny)  # atol where exact zeros may occur
seed_lists = st.lists(seeds, min_size=1, max_size=3)


def keys_of(seed_list) -> np.ndarray:
    return np.stack([key_from_seed(seed) for seed in seed_list])


noise_kinds = st.sampled_from((Stream.REAL_NOISE, Stream.FAKE_NOISE))


@given(seed_list=seed_lists, step=steps, substep=st.integers(0, 3), kind=noise_kinds,
       sigma=sigmas, batch=batch_sizes, dim=st.integers(1, 3), data=st.data())  # fmt: skip
def test_instance_noise_is_the_reference_rounded_once(
    backend, seed_list, step, substep, kind, sigma, batch, dim, data
):
    P = len(seed_list)
    x = rng_from(data.draw).standard_normal((P, batch, dim)).astype(np.float32)
    sigma_p = np.full(P, sigma, dtype=np.float32)
    rng = SubstepRandom(device.to_device(keys_of(seed_list), backend), step, substep)
    out = device.to_host(
        fast_noise.add_instance_noise(
            *(device.to_device(a, backend) for a in (x, sigma_p)), rng, kind
        )
    )
    for p, key in enumerate(keys_of(seed_list)):
        expected = noise.add_instance_noise(
            x[p].astype(np.float64), float(sigma_p[p]), SubstepRandom(key, step, substep), kind
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
    P, generator = len(seed_list), rng_from(data.draw)
    x_real, x_fake = (
        device.to_device(generator.standard_normal((P, batch, dim)).astype(np.float32), backend)
        for _ in "rf"
    )
    sigma = device.to_device(np.linspace(0.0, 1.0, P, dtype=np.float32), backend)
    rng = SubstepRandom(device.to_device(keys_of(seed_list), backend), step, substep)
    both = fast_noise.noisy_discriminator_input(x_real, x_fake, sigma, rng)
    # the same per-element arithmetic, so the same bits, not merely close ones
    single_real = fast_noise.add_instance_noise(x_real, sigma, rng, Stream.REAL_NOISE)
    single_fake = fast_noise.add_instance_noise(x_fake, sigma, rng, Stream.FAKE_NOISE)
    assert np.array_equal(device.to_host(both)[:, :batch], device.to_host(single_real))
    assert np.array_equal(device.to_host(both)[:, batch:], device.to_host(single_fake))


@given(seed=seeds, step=steps, n=st.integers(1, 40), cut=st.floats(0.0, 1.0), data=st.data())
def test_noise_added_in_two_ranges_is_the_noise_added_whole(seed, step, n, cut, data):
    # The fused CPU step adds each part's noise on its own thread (fast.device.SHARES), and
    # an element's number depends on its Philox block alone.
    x = rng_from(data.draw).standard_normal(n).astype(np.float32)
    k0, k1 = key_from_seed(seed)
    stream = stream_id(Stream.REAL_NOISE, 0)
    whole = np.full(n, np.nan, np.float32)
    fast_noise.instance_noise_one(whole, x, 0.5, k0, k1, step, stream, 0, n)
    middle = int(cut * n)
    for first, stop in ((0, middle), (middle, n)):  # each into a fresh buffer
        part = np.full(n, np.nan, np.float32)
        fast_noise.instance_noise_one(part, x, 0.5, k0, k1, step, stream, first, stop)
        assert np.array_equal(part[first:stop], whole[first:stop])
        assert np.isnan(part[:first]).all() and np.isnan(part[stop:]).all()
