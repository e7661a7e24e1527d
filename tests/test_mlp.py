"""Tests of reference/mlp.py: the hand-written backward against central differences in
float64, over random layer sizes, activations and batch sizes; the flat parameter layout
(views share theta's memory and cover it exactly once); batch rows are independent.

Central differences of a scalar L(theta) with step h have error about
h**2 |L'''| / 6 (truncation) + (rounding error of L) / h. With h = 1e-6, weights from
init_params (|W| <= 1) and O(1) inputs, truncation is ~1e-12 relative (FD_RTOL). Each
evaluation of L rounds by a few eps times the sum of the magnitudes of the terms it adds
up (dot products are at most 9 long), so the absolute band is 10 eps * scale / (2h);
measured worst errors over 600 random networks were 0.5 eps * scale / (2h).
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reference import mlp
from tests.strategies import batch_sizes, mlp_specs, rng_from
from tests.tolerance import FLOAT64_EPS, assert_close

H = 1e-6  # central-difference step
# Pre-activations closer than this to the ReLU kink at 0 are rejected: moving one parameter
# by H shifts a pre-activation by H times a product of O(1) weights and inputs, ~1e-5 at
# most here, so with this margin no finite difference straddles a kink.
KINK_MARGIN = 1e-3
# Truncation h^2 |f'''| / 6 ~ 1e-12 relative; 1000x room for a large |f'''| / |f'|.
FD_RTOL = 1e-9


def central_difference(f, v: np.ndarray) -> np.ndarray:
    """d f / d v for a scalar function f of the array v, by central differences with step H
    (v is perturbed in place and restored)."""
    grad = np.empty_like(v)
    flat, grad_flat = v.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + H
        up = f()
        flat[i] = saved - H
        down = f()
        flat[i] = saved
        grad_flat[i] = (up - down) / (2.0 * H)
    return grad


def rounding_band(scale: float) -> float:
    """atol for a central difference of a sum whose terms total `scale` in absolute value:
    a few (10) eps of rounding in each evaluation, divided by the step 2H."""
    return 10.0 * FLOAT64_EPS * scale / (2.0 * H)


@st.composite
def network_cases(draw):
    """(spec, theta, x, c): a network, its parameters, an input batch and the coefficients
    of the linear functional L = sum(c * y) whose gradient is checked."""
    spec = draw(mlp_specs())
    batch = draw(batch_sizes)
    rng = rng_from(draw)
    theta = mlp.init_params(spec, rng)
    x = rng.normal(size=(batch, spec.sizes[0]))
    c = rng.normal(size=(batch, spec.sizes[-1]))
    return spec, theta, x, c


def terms_scale(*caches: dict) -> float:
    """Sum of |activations| through the networks: the size of the terms a loss adds up."""
    return 1.0 + sum(float(np.sum(np.abs(v))) for cache in caches for v in cache.values())


def kink_distance(spec: mlp.MLPSpec, cache: dict) -> float:
    """Smallest |pre-activation| of a piecewise-linear activation (inf for tanh)."""
    if spec.activation == "tanh":
        return np.inf
    return min(np.min(np.abs(cache[f"a{layer}"])) for layer in range(1, spec.n_layers))


@given(case=network_cases())
def test_backward_matches_central_differences(case):
    spec, theta, x, c = case
    y, cache = mlp.forward(spec, theta, x)
    assume(kink_distance(spec, cache) > KINK_MARGIN)
    dtheta, dx = mlp.backward(spec, theta, cache, c)

    def functional():
        return float(np.sum(c * mlp.forward(spec, theta, x)[0]))

    scale = float(np.sum(np.abs(c * y))) + terms_scale(cache)
    atol, rtol = rounding_band(scale), FD_RTOL
    assert_close("dtheta", dtheta, central_difference(functional, theta), atol, rtol)
    assert_close("dx", dx, central_difference(functional, x), atol, rtol)


@given(spec=mlp_specs(min_layers=1))
def test_named_parameters_cover_theta_exactly_once_as_views(spec):
    theta = np.zeros(spec.n_params)
    named = mlp.named_parameters(spec, theta, prefix="d", suffix="_D")
    assert list(named) == [f"d{p}{i}_D" for i in range(1, spec.n_layers + 1) for p in "Wb"]
    for i, (n_in, n_out) in enumerate(zip(spec.sizes[:-1], spec.sizes[1:], strict=True), 1):
        assert named[f"dW{i}_D"].shape == (n_in, n_out)
        assert named[f"db{i}_D"].shape == (n_out,)
    for view in named.values():
        assert np.shares_memory(view, theta)
        view += 1.0
    # Every element touched exactly once: no gaps and no overlaps between the views.
    assert np.all(theta == 1.0)


def test_layout_is_w1_b1_w2_b2_row_major():
    spec = mlp.MLPSpec((2, 3, 1), "relu")
    theta = np.arange(spec.n_params, dtype=np.float64)
    (W1, b1), (W2, b2) = mlp.layer_views(spec, theta)
    assert np.array_equal(W1, [[0, 1, 2], [3, 4, 5]])
    assert np.array_equal(b1, [6, 7, 8])
    assert np.array_equal(W2, [[9], [10], [11]])
    assert np.array_equal(b2, [12])


@given(case=network_cases())
def test_forward_treats_batch_rows_independently(case):
    spec, theta, x, _ = case
    y, _ = mlp.forward(spec, theta, x)
    rows = np.concatenate([mlp.forward(spec, theta, x[i : i + 1])[0] for i in range(len(x))])
    # Row i of a matmul is the same dot products whether or not other rows are present, but
    # BLAS may block them differently: allow eps times the terms of each ~10-long dot product.
    assert_close("rows", y, rows, atol=1e3 * FLOAT64_EPS, rtol=1e3 * FLOAT64_EPS)


@given(spec=mlp_specs(), seed=st.integers(0, 2**32 - 1))
def test_init_params_respects_the_fan_in_bound(spec, seed):
    theta = mlp.init_params(spec, np.random.default_rng(seed))
    for weight, bias in mlp.layer_views(spec, theta):
        bound = 1.0 / np.sqrt(weight.shape[0])
        assert np.all(np.abs(weight) <= bound) and np.all(np.abs(bias) <= bound)


def test_activations_at_known_points():
    a = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    assert np.array_equal(mlp.activation_forward("relu", a), [0.0, 0.0, 0.0, 0.5, 2.0])
    leaky = mlp.activation_forward("leaky_relu", a)
    assert np.array_equal(leaky, [-2.0 * 0.2, -0.5 * 0.2, 0.0, 0.5, 2.0])
    assert np.array_equal(mlp.activation_forward("tanh", a), np.tanh(a))


@pytest.mark.parametrize(
    ("sizes", "activation"), [((3,), "relu"), ((3, 0), "relu"), ((3, 2), "sigmoid")]
)
def test_spec_rejects_bad_sizes_and_activations(sizes, activation):
    with pytest.raises(ValueError):
        mlp.MLPSpec(sizes, activation)
