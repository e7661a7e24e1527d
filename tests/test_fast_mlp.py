"""fast/mlp.py against reference/mlp.py on every backend: forward and backward of random
networks (widths and batches from 1, activations of every kind) within the float32
tolerance of their longest reduction and depth; the input-gradient-only backward gives the
same dx; the flat layout and the named views are the reference's."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fast import device
from fast import mlp as fast_mlp
from reference import mlp
from tests.strategies import batch_sizes, mlp_specs, populations, rng_from
from tests.tolerance import assert_close, float32_atol, network_terms


@given(spec=mlp_specs(), batch=batch_sizes, P=populations, data=st.data())
def test_forward_and_backward_match_the_reference(backend, spec, batch, P, data):
    rng = rng_from(data.draw)
    theta = np.stack([mlp.init_params(spec, rng) for _ in range(P)]).astype(np.float32)
    x = rng.standard_normal((P, batch, spec.sizes[0])).astype(np.float32)
    dy = rng.standard_normal((P, batch, spec.sizes[-1])).astype(np.float32)
    on = device.to_device
    y, cache = fast_mlp.forward(spec, on(theta, backend), on(x, backend))
    dtheta, dx = fast_mlp.backward(spec, on(theta, backend), cache, on(dy, backend))
    no_dtheta, dx_only = fast_mlp.backward(spec, on(theta, backend), cache, on(dy, backend), False)
    # forward then backward: 2 L chained layers, each a sum over <= max(widths, B) terms
    n_terms, depth = max(*spec.sizes, batch), 2 * spec.n_layers
    for p in range(P):
        # the reference on the same float32 inputs, so only the arithmetic differs
        theta64 = theta[p].astype(np.float64)
        y_ref, cache_ref = mlp.forward(spec, theta64, x[p].astype(np.float64))
        dtheta_ref, dx_ref = mlp.backward(spec, theta64, cache_ref, dy[p].astype(np.float64))
        # each tensor at its own scale, or its terms' where a sum cancels (batch 1, width 1)
        terms = network_terms(spec, theta64, x[p].astype(np.float64), dy[p].astype(np.float64))
        floors = {"y": terms.pop("y"), "dx": terms.pop("dx"), "dtheta": max(terms.values())}
        for name, actual, expected in [("y", y, y_ref), ("dtheta", dtheta, dtheta_ref),
                                       ("dx", dx, dx_ref)]:  # fmt: skip
            atol = float32_atol(expected, n_terms, depth, floor=floors[name])
            assert_close(name, device.to_host(actual)[p], expected, atol=atol, rtol=0.0)
    # the same GEMMs for dx, only the weight-gradient ones skipped, and nothing written
    assert np.array_equal(device.to_host(dx_only), device.to_host(dx))
    assert not device.to_host(no_dtheta).any()


@given(spec=mlp_specs(), P=populations)
def test_layer_views_and_names_share_the_reference_layout(spec, P):
    theta = np.arange(P * spec.n_params, dtype=np.float32).reshape(P, spec.n_params)
    named = fast_mlp.named_parameters(spec, theta, prefix="d", suffix="_D")
    for p in range(P):
        expected = mlp.named_parameters(spec, theta[p], prefix="d", suffix="_D")
        assert list(named) == list(expected)
        for name, view in named.items():
            assert np.shares_memory(view, theta) and np.array_equal(view[p], expected[name])
