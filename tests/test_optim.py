"""Tests of reference/optim.py: Adam's bias correction makes a constant gradient move each
parameter by lr * g / (|g| + eps) on every step, the first one included; t counts the
updates; Adam decreases a convex quadratic to within ~lr of its minimum; updates happen in
place."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reference import optim
from tests.strategies import rng_from
from tests.tolerance import FLOAT64_EPS, assert_close

LR, BETA1, BETA2, EPS = 1e-3, 0.5, 0.999, 1e-8


@st.composite
def parameters_and_gradients(draw):
    """theta: (N,) of order 1, grad: (N,) spread over many decades, so that the eps in
    Adam's denominator matters for some entries and not for others."""
    rng = rng_from(draw)
    n = draw(st.integers(1, 20))
    grad = rng.choice([-1.0, 1.0], size=n) * 10.0 ** rng.uniform(-10, 3, size=n)
    return rng.normal(size=n), grad


@given(case=parameters_and_gradients(), n_steps=st.integers(1, 5))
def test_adam_with_a_constant_gradient_moves_lr_g_over_abs_g_each_step(case, n_steps):
    theta, grad = case
    start = theta.copy()
    state = optim.adam_init(theta)
    for _ in range(n_steps):
        optim.adam_step(theta, grad, state, LR, BETA1, BETA2, EPS)
    assert state.t == n_steps
    # With bias correction m_hat = g and v_hat = g^2 for a constant g, up to ~10 roundings
    # per step of relative size eps: the step is lr g / (|g| + eps) each time. The error is
    # eps relative to the step (~lr) plus one rounding of theta itself.
    expected = start - n_steps * LR * grad / (np.abs(grad) + EPS)
    atol = n_steps * (10 * FLOAT64_EPS * LR + FLOAT64_EPS * (np.max(np.abs(start)) + LR))
    assert_close("theta", theta, expected, atol, 0.0)


@given(case=parameters_and_gradients())
def test_adam_updates_in_place(case):
    theta, grad = case
    state = optim.adam_init(theta)
    m, v, buffer = state.m, state.v, theta
    optim.adam_step(theta, grad, state, LR, BETA1, BETA2, EPS)
    assert state.m is m and state.v is v and theta is buffer
    # After one step m = (1 - beta1) g and v = (1 - beta2) g^2, each one rounding.
    assert_close("m", state.m, (1 - BETA1) * grad, 0.0, 2 * FLOAT64_EPS)
    assert_close("v", state.v, (1 - BETA2) * grad * grad, 0.0, 4 * FLOAT64_EPS)


def quadratic(curvature: np.ndarray, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """f = sum(curvature * theta^2) / 2 and its gradient."""
    return 0.5 * float(np.sum(curvature * theta**2)), curvature * theta


@given(data=st.data())
def test_adam_decreases_a_convex_quadratic(data):
    rng = rng_from(data.draw)
    curvature = rng.uniform(0.1, 10.0, size=6)
    # A start within 1 of the minimum: from a normal start's |theta| ~ 4, v's long memory
    # (beta2 = 0.999) of the early gradients slowed the approach and 500 steps fell short.
    start = rng.uniform(-1.0, 1.0, size=6)
    initial, _ = quadratic(curvature, start)

    adam = start.copy()
    state = optim.adam_init(adam)
    for _ in range(500):
        optim.adam_step(adam, quadratic(curvature, adam)[1], state, 0.01, 0.9, 0.999)
    # Adam moves about lr per step, so 500 steps of 0.01 cover the start five times; it
    # then hovers within ~lr of the minimum, where f ~ curvature * lr^2 per coordinate.
    assert state.t == 500
    assert quadratic(curvature, adam)[0] < 0.01 * initial + 6 * 10.0 * 0.01**2
