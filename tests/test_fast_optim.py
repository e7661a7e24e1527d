"""fast/optim.py against reference/optim.py on every backend: one call over the whole
(P, n) buffer gives each GAN the reference's update, rounded once to float32."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fast import device
from fast import optim as fast_optim
from reference import optim
from tests.strategies import populations, rng_from
from tests.tolerance import FLOAT32_EPS, FLOAT32_TINY, assert_close

# theta, m and v are each a float64 expression of float32 inputs, rounded once
ONE_ROUNDING = FLOAT32_EPS


@given(P=populations, n=st.integers(1, 700), t=st.integers(0, 50), data=st.data())
def test_adam_rounds_the_float64_update_once(backend, P, n, t, data):
    rng = rng_from(data.draw)
    theta, grad = (rng.standard_normal((P, n)).astype(np.float32) for _ in "tg")
    m = (0.1 * rng.standard_normal((P, n))).astype(np.float32)
    v = (0.1 * np.abs(rng.standard_normal((P, n)))).astype(np.float32)
    # copies: on the CPU to_device returns the array itself, and the steps work in place
    fast_theta, fast_m, fast_v = (device.to_device(a.copy(), backend) for a in (theta, m, v))
    state = fast_optim.AdamState(fast_m, fast_v, t)
    fast_optim.adam_step(fast_theta, device.to_device(grad, backend), state, 1e-3, 0.5, 0.999)
    assert state.t == t + 1
    for p in range(P):
        expected = theta[p].astype(np.float64)
        ref_state = optim.AdamState(m[p].astype(np.float64), v[p].astype(np.float64), t)
        optim.adam_step(expected, grad[p].astype(np.float64), ref_state, 1e-3, 0.5, 0.999)
        assert_close("theta", device.to_host(fast_theta)[p], expected, FLOAT32_TINY, ONE_ROUNDING)
        assert_close("m", device.to_host(state.m)[p], ref_state.m, FLOAT32_TINY, ONE_ROUNDING)
        assert_close("v", device.to_host(state.v)[p], ref_state.v, FLOAT32_TINY, ONE_ROUNDING)


def test_adam_init_is_zero_moments_on_the_same_device(backend):
    theta = device.to_device(np.ones((2, 3), np.float32), backend)
    state = fast_optim.adam_init(theta)
    assert state.t == 0 and device.on_gpu(state.m) == (backend == "gpu")
    assert not device.to_host(state.m).any() and not device.to_host(state.v).any()
