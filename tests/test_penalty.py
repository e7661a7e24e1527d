"""Tests of reference/penalty.py: the penalty's hand-written gradient (through the input
gradient, and through Roth's weights into D's output) against central differences of its
value in float64, over random networks, inputs, gamma and kinds; the tangent pass is D's
backward with dphi = 1; Roth's weights and their derivative; gamma = 0 adds nothing.

The central-difference band is tests/test_mlp.py's, with the penalty's own terms: its value
sums gamma / 2 * w * g_j^2 over the batch, each g_j a sum of products of weights and
activation slopes, so its rounding is a few eps times gamma * mean(w * ||G||^2), where G is
the tangent pass run on |theta| (every product's magnitude, summed without cancellation).
"""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reference import loss, mlp, penalty
from tests.strategies import batch_sizes, rng_from, widths
from tests.test_mlp import (
    FD_RTOL,
    KINK_MARGIN,
    central_difference,
    kink_distance,
    rounding_band,
    terms_scale,
)
from tests.tolerance import FLOAT64_EPS, assert_close

kinds = st.sampled_from(penalty.PENALTIES[1:])
gammas = st.floats(min_value=1e-3, max_value=10.0)


@st.composite
def penalty_cases(draw):
    """(spec, theta, x, batch): D-like networks (piecewise-linear, one output), 2 * batch
    rows of which the first batch are 'real'."""
    n_layers = draw(st.integers(1, 4))
    sizes = (draw(widths), *[draw(widths) for _ in range(n_layers - 1)], 1)
    spec = mlp.MLPSpec(sizes, draw(st.sampled_from(("relu", "leaky_relu"))))
    batch = draw(batch_sizes)
    rng = rng_from(draw)
    theta = mlp.init_params(spec, rng)
    # A scaled output layer gives logits well away from 0, where Roth's weights bend.
    mlp.layer_views(spec, theta)[-1][0][...] *= draw(st.sampled_from((1.0, 10.0)))
    return spec, theta, rng.normal(size=(2 * batch, sizes[0])), batch


def penalty_scale(spec, theta, cache, logit, batch, kind, gamma) -> float:
    """The size of the terms the penalty's value adds up (see the module docstring)."""
    w, _ = penalty.weights(kind, logit, batch)
    _, g_bound = penalty.tangents(spec, np.abs(theta), cache)
    return gamma * float(np.mean(w * np.sum(g_bound**2, axis=1)))


@given(case=penalty_cases(), kind=kinds, gamma=gammas)
def test_penalty_gradient_matches_central_differences(case, kind, gamma):
    spec, theta, x, batch = case
    logit, cache = mlp.forward(spec, theta, x)
    assume(spec.n_layers == 1 or kink_distance(spec, cache) > KINK_MARGIN)
    _, dtheta, dlogit = penalty.penalty(spec, theta, cache, logit[:, 0], batch, kind, gamma)
    # Both paths of the gradient: through the input gradients, and through the logits.
    total = dtheta + mlp.backward(spec, theta, cache, dlogit[:, None])[0]

    def value_of_theta():
        logit, cache = mlp.forward(spec, theta, x)
        return penalty.penalty(spec, theta, cache, logit[:, 0], batch, kind, gamma)[0]

    scale = penalty_scale(spec, theta, cache, logit[:, 0], batch, kind, gamma) * (
        1.0 + terms_scale(cache)  # Roth's weights carry the logits' rounding too
    )  # fmt: skip
    numeric = central_difference(value_of_theta, theta)
    assert_close("dtheta", total, numeric, rounding_band(scale), FD_RTOL)


@given(case=penalty_cases())
def test_tangent_pass_is_the_backward_pass_with_dphi_one(case):
    spec, theta, x, _ = case
    _, cache = mlp.forward(spec, theta, x)
    _, g = penalty.tangents(spec, theta, cache)
    _, dx = mlp.backward(spec, theta, cache, np.ones((x.shape[0], 1)))
    assert np.array_equal(g, dx)  # the same products in the same order


@given(logit=st.lists(st.floats(-200.0, 200.0), min_size=2, max_size=8), batch=st.integers(1, 4))
def test_weights_are_the_masks_and_roths_with_their_derivative(logit, batch):
    logit = np.array(logit)
    batch = min(batch, len(logit) - 1)
    real = np.arange(len(logit)) < batch
    for kind, mask in (("r1", real), ("r2", ~real)):
        w, dw = penalty.weights(kind, logit, batch)
        assert np.array_equal(w, mask.astype(float)) and np.all(dw == 0.0)
    w, dw = penalty.weights("roth", logit, batch)
    d = loss.sigmoid(logit)
    assert np.all(np.isfinite(w)) and np.all(np.isfinite(dw))
    # w is (1 - D)^2 real, D^2 fake: two roundings of sigmoid's ~eps-exact value.
    assert_close("w", w, np.where(real, (1.0 - d) ** 2, d**2), 4 * FLOAT64_EPS, 4 * FLOAT64_EPS)
    h = 1e-6  # |w'''| <= 2: truncation h^2 / 3; rounding eps / h
    numeric = (
        penalty.weights("roth", logit + h, batch)[0] - penalty.weights("roth", logit - h, batch)[0]
    ) / (2 * h)  # fmt: skip
    assert_close("dw", dw, numeric, h**2 + 10 * FLOAT64_EPS / h, 0.0)


@given(case=penalty_cases(), kind=kinds)
def test_gamma_zero_adds_nothing(case, kind):
    spec, theta, x, batch = case
    logit, cache = mlp.forward(spec, theta, x)
    value, dtheta, dlogit = penalty.penalty(spec, theta, cache, logit[:, 0], batch, kind, 0.0)
    assert value == 0.0 and np.all(dtheta == 0.0) and np.all(dlogit == 0.0)


def test_weights_refuse_an_unknown_kind():
    with pytest.raises(ValueError, match="one of"):
        penalty.weights("none", np.zeros(2), 1)


def test_penalty_refuses_a_smooth_activation():
    spec = mlp.MLPSpec((2, 3, 1), "tanh")
    theta = mlp.init_params(spec, np.random.default_rng(0))
    logit, cache = mlp.forward(spec, theta, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="act''"):
        penalty.penalty(spec, theta, cache, logit[:, 0], 1, "r1", 1.0)
