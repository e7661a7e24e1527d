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
from reference.philox import SubstepRandom, key_from_seed
from tests.strategies import seeds, steps
from tests.tolerance import FLOAT32_EPS, assert_close

# one float32 rounding of the float64 sample (and libm's last-bit differences far below it)
ONE_ROUNDING = FLOAT32_EPS
TINY = float(np.finfo(np.float32).tiny)


@pytest.mark.parametrize("name", sorted(data.DATASETS))
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
        assert_close(name, out[p], expected, atol=TINY, rtol=ONE_ROUNDING)
