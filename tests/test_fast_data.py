"""fast/data.py against reference/data.py on every backend: each GAN's batch is the
reference's batch of its own key, rounded once to float32 (the mixture component is chosen
on the same float64 uniform, so it is the same component)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast import data as fast_data
from fast import device
from reference import data
from reference.philox import Stream, SubstepRandom, key_from_seed, stream_id
from tests.strategies import seeds, steps
from tests.tolerance import FLOAT32_EPS, FLOAT32_TINY, assert_close

# one float32 rounding of the float64 sample (and libm's last-bit differences far below it)
ONE_ROUNDING = FLOAT32_EPS


@pytest.mark.parametrize("name", sorted(data.TOYS))
@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps,
       substep=st.integers(0, 2), n=st.integers(1, 300))  # fmt: skip
def test_samples_are_the_reference_rounded_once(backend, name, seed_list, step, substep, n):
    distribution = data.get_dataset(name)
    keys = np.stack([key_from_seed(seed) for seed in seed_list])
    rng = SubstepRandom(device.to_device(keys, backend), step, substep)
    out = fast_data.sample(distribution, rng, n)
    out = device.to_host(out)
    assert out.shape == (len(seed_list), n, distribution.dim) and out.dtype == np.float32
    for p, key in enumerate(keys):
        expected = data.sample(distribution, SubstepRandom(key, step, substep), n)
        assert_close(name, out[p], expected, atol=FLOAT32_TINY, rtol=ONE_ROUNDING)


@pytest.mark.parametrize("name", sorted(data.TOYS))
@given(seed=seeds, step=steps, n=st.integers(1, 40), cut=st.floats(0.0, 1.0))
def test_a_batch_drawn_in_two_row_ranges_is_the_batch_drawn_whole(name, seed, step, n, cut):
    # The fused CPU step draws each part's rows on its own thread (fast.device.SHARES).
    distribution = data.get_dataset(name)
    sampler = fast_data.sampler_tables(distribution)
    k0, k1 = key_from_seed(seed)
    first_stream, second_stream = stream_id(Stream.DATA_CHOICE, 0), stream_id(Stream.DATA_OFFSET, 0)
    whole = np.full((n, distribution.dim), np.nan, np.float32)
    fast_data.sample_one(whole, np.full(n, -1), sampler, k0, k1, step, first_stream,
                         second_stream, 0, n)  # fmt: skip
    middle = int(cut * n)
    for first, stop in ((0, middle), (middle, n)):  # each into fresh buffers
        part = np.full((n, distribution.dim), np.nan, np.float32)
        fast_data.sample_one(part, np.full(n, -1), sampler, k0, k1, step, first_stream,
                             second_stream, first, stop)  # fmt: skip
        assert np.array_equal(part[first:stop], whole[first:stop])
        assert np.isnan(part[:first]).all() and np.isnan(part[stop:]).all()
