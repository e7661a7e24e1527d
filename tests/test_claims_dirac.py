"""Claim 4, the Dirac-GAN (Mescheder et al. 2018): the closed-form Jacobian at the equilibrium
is the Jacobian of the vector field; without noise its eigenvalues are purely imaginary and
simultaneous gradient descent spirals away; with instance noise the real parts are negative
and small-step gradient descent, simultaneous or alternating, converges to (0, 0)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reference import theory
from tests.strategies import sigmas as noise_sigmas  # 0, or 1e-3..3: sigma^2 never underflows
from tests.tolerance import FLOAT64_EPS, assert_close

# 0 or |start| >= 1e-3, so that squared radii never underflow.
starts = st.floats(min_value=-1.0, max_value=1.0).filter(lambda s: s == 0.0 or abs(s) >= 1e-3)
step_sizes = st.floats(min_value=0.01, max_value=0.3)


@given(noise_sigmas)
def test_closed_form_jacobian_is_the_finite_difference_jacobian(sigma):
    # Central differences with h = 1e-4: truncation h^2 |v'''| / 6 with |v'''| <~ 1 + sigma^3
    # <= 28, under 5e-8; rounding eps |v| / h ~ 1e-12. atol 2e-7 covers both.
    numerical = theory.dirac_jacobian_numerical(sigma, h=1e-4)
    assert_close("J", numerical, theory.dirac_jacobian(sigma), 2e-7, 0.0)


def test_finite_difference_jacobian_broadcasts_over_a_grid_of_sigma():
    # The figure evaluates it on a grid of sigma at once: each entry must be the scalar call.
    sigma = np.linspace(0.0, 3.0, 7)
    jacobians = theory.dirac_jacobian_numerical(sigma)
    assert jacobians.shape == (7, 2, 2)
    for s, jacobian in zip(sigma, jacobians, strict=True):
        assert np.array_equal(jacobian, theory.dirac_jacobian_numerical(s))


@given(noise_sigmas)
def test_closed_form_eigenvalues_are_those_of_the_jacobian(sigma):
    closed = theory.dirac_eigenvalues(sigma)
    numeric = np.linalg.eigvals(theory.dirac_jacobian(sigma))
    order = np.lexsort((closed.imag, closed.real)), np.lexsort((numeric.imag, numeric.real))
    # A 2x2 eigensolve on entries <= 2: a few eps; near the double root (sigma^2 = 2) the
    # eigenvalues are sqrt-sensitive, eps^(1/2) ~ 1.5e-8.
    assert_close("real", numeric[order[1]].real, closed[order[0]].real, 1e-7, 0.0)
    assert_close("imag", numeric[order[1]].imag, closed[order[0]].imag, 1e-7, 0.0)
    if sigma == 0.0:
        assert np.all(closed.real == 0.0)
        assert_close("+-i f'(0)", closed.imag, [0.5, -0.5], 0.0, FLOAT64_EPS)
    else:
        assert np.all(closed.real < 0.0)


def test_eigenvalues_broadcast_over_a_grid_of_sigma():
    sigma = np.linspace(0.0, 3.0, 31)
    eigenvalues = theory.dirac_eigenvalues(sigma)
    assert eigenvalues.shape == (31, 2)
    for s, pair in zip(sigma, eigenvalues, strict=True):
        assert np.array_equal(pair, theory.dirac_eigenvalues(s))


@given(starts, starts, noise_sigmas)
def test_gauss_hermite_field_matches_a_brute_force_integral(theta, psi, sigma):
    eps = np.linspace(-12.0, 12.0, 24001)  # trapezoid on a smooth integrand, tails < 1e-31
    # The spacing written out: eps[1] - eps[0], a difference near -12, is off by 3e-12 relative.
    weight = np.exp(-0.5 * eps**2) / np.sqrt(2 * np.pi) * (24.0 / 24000)
    x_fake, x_real = theta + sigma * eps, sigma * eps
    f_prime = theory.dirac_f_prime
    v_theta = -np.sum(weight * psi * f_prime(psi * x_fake))
    v_psi = np.sum(weight * (x_fake * f_prime(psi * x_fake) - x_real * f_prime(-psi * x_real)))
    # The trapezoid is exact to rounding (24001 terms <= 3 * 0.4 * 1e-3); Gauss-Hermite errs
    # by about exp(-2 pi sqrt(n) / (|psi| sigma)) (the rate for poles at distance
    # pi / (|psi| sigma): theory.HERMITE_NODES) times the size of the integrands, which carry a
    # factor x~ of scale 1 + sigma. Measured on a grid of this test's range (|psi| sigma <= 3):
    # at most ~7 times that where it exceeds 1e-12, so x30 leaves room of 4.
    scale = abs(psi) * sigma
    convergence = np.exp(-2 * np.pi * np.sqrt(theory.HERMITE_NODES) / scale) if scale else 0.0
    hermite = 30 * (1 + sigma) * convergence
    assert_close(
        "v", theory.dirac_vector_field(theta, psi, sigma), [v_theta, v_psi], 1e-12 + hermite, 0.0
    )


@given(starts, starts)
def test_without_noise_the_field_is_the_closed_form_and_tangent_to_circles(theta, psi):
    v_theta, v_psi = theory.dirac_vector_field(theta, psi)
    slope = theory.dirac_f_prime(psi * theta)
    # sigma = 0 puts every node at the same point: the weights sum to 1 within a few eps.
    assert_close("v", [v_theta, v_psi], [-psi * slope, theta * slope], 1e-15, 8 * FLOAT64_EPS)
    assert abs(theta * v_theta + psi * v_psi) <= 1e-15  # (theta, psi) . v = 0


@given(starts, starts, step_sizes)
def test_without_noise_simultaneous_descent_moves_away_from_the_equilibrium(theta, psi, h):
    path = theory.dirac_trajectory(theta, psi, 0.0, h, 200, alternating=False)
    radius2 = np.sum(path**2, axis=1)
    v = np.array(theory.dirac_vector_field(path[:-1, 0], path[:-1, 1])).T
    # Each Euler step is tangent to the circle through the point: |z + h v|^2 = |z|^2 + h^2 |v|^2
    # exactly in real numbers; rounding of sums of squares <= 2: a few eps.
    assert_close("|z|^2", radius2[1:], radius2[:-1] + h**2 * np.sum(v**2, axis=1), 1e-14, 0.0)
    if theta != 0.0 or psi != 0.0:
        assert radius2[-1] > radius2[0]


@given(starts, starts, st.floats(min_value=0.5, max_value=1.5), st.floats(0.05, 0.3), st.booleans())
def test_with_noise_small_step_descent_converges_to_the_equilibrium(
    theta, psi, sigma, h, alternating
):
    # Steps enough for the linearised map, spectral radius rho = max |1 + h lambda|, to shrink
    # by 1e-6; a factor 100 more is allowed for the non-normal transient and the slower
    # nonlinear phase far from (0, 0).
    rho = np.max(np.abs(1 + h * theory.dirac_eigenvalues(sigma)))
    n_steps = int(np.ceil(np.log(1e-6) / np.log(rho)))
    path = theory.dirac_trajectory(theta, psi, sigma, h, n_steps, alternating)
    assert np.hypot(*path[-1]) <= 1e-4 * max(1.0, np.hypot(theta, psi))


@given(step_sizes, noise_sigmas)
def test_alternating_steps_preserve_area_without_noise_and_shrink_it_with_noise(h, sigma):
    # The one-step map of alternating descent, linearised at (0, 0), is a product of two
    # shears, [[1, h J_tp], [0, 1]] after [[1, 0], [h J_pt, 1 + h J_pp]]: its determinant
    # is 1 + h J_pp = 1 - h sigma^2 / 2, so without noise areas are kept (orbits neither
    # shrink nor grow) and with noise they shrink.
    d = 1e-6

    def one_step(theta, psi):
        return theory.dirac_trajectory(theta, psi, sigma, h, 1, alternating=True)[1]

    jacobian = np.stack(
        [
            (one_step(d, 0.0) - one_step(-d, 0.0)) / (2 * d),
            (one_step(0.0, d) - one_step(0.0, -d)) / (2 * d),
        ],
        axis=1,
    )
    # Central differences of a map with third derivatives <~ h (1 + sigma^3): truncation
    # d^2 h 28 ~ 1e-11; rounding eps / d ~ 2e-10 per entry.
    assert_close(
        "det", np.linalg.det(jacobian), 1 + h * theory.dirac_jacobian(sigma)[1, 1], 2e-9, 0.0
    )


@given(starts, starts, step_sizes)
def test_without_noise_alternating_descent_circles_without_converging(theta, psi, h):
    path = theory.dirac_trajectory(theta, psi, 0.0, h, 500, alternating=True)
    radius = np.hypot(path[:, 0], path[:, 1])
    # Area-preserving (the test above): the orbit stays near the circle it starts on, here
    # within a factor 2, and so never reaches the equilibrium.
    assert np.all((radius >= radius[0] / 2) & (radius <= 2 * radius[0]))
