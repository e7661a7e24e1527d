"""Claim 4, the Dirac-GAN (Mescheder et al. 2018): the closed-form Jacobian at the equilibrium
is the Jacobian of the vector field; without noise its eigenvalues are purely imaginary and
simultaneous gradient descent spirals away; with instance noise the real parts are negative
and small-step gradient descent, simultaneous or alternating, converges to (0, 0).

With a gradient penalty on the discriminator (R1, R2, Roth et al.'s Omega; their derivation
is in reference/theory.py's docstring): the penalised field is the game's minus the
penalty's psi-gradient, the closed-form Jacobians and eigenvalues are those of the field,
R1 or R2 at gamma has the eigenvalues of instance noise at sigma = sqrt(2 gamma) and Roth's
penalty those of noise at sigma = sqrt(gamma), and descent with a penalty converges where
plain descent circles."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reference import loss, theory
from tests.strategies import sigmas as noise_sigmas  # 0, or 1e-3..3: sigma^2 never underflows
from tests.tolerance import FLOAT64_EPS, assert_close

# 0 or |start| >= 1e-3, so that squared radii never underflow.
starts = st.floats(min_value=-1.0, max_value=1.0).filter(lambda s: s == 0.0 or abs(s) >= 1e-3)
step_sizes = st.floats(min_value=0.01, max_value=0.3)
penalties = st.sampled_from(("r1", "r2", "roth"))
gammas = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=4.0))


@given(noise_sigmas)
def test_closed_form_jacobian_is_the_finite_difference_jacobian(sigma):
    # Central differences with delta = 1e-4: truncation delta^2 |v'''| / 6 with |v'''| <~ 1 +
    # sigma^3 <= 28, under 5e-8; rounding eps |v| / delta ~ 1e-12. atol 2e-7 covers both.
    numerical = theory.dirac_jacobian_numerical(sigma, delta=1e-4)
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


def steps_to_shrink(jacobian: np.ndarray, h: float, alternating: bool, factor: float) -> int:
    """The steps of descent at step size h after which its map linearised at (0, 0) has
    shrunk by `factor`: rho^n <= factor for its spectral radius rho. Simultaneous steps map
    by I + h J; alternating ones by psi's step, then theta's from the new psi (the shears of
    the area test below), whose radius is larger for some h (0.912 against 0.875 for R1 at
    gamma = 1, h = 0.25, where the simultaneous count left alternating descent 1.6e-4 from
    (0, 0))."""
    if alternating:
        (j_tt, j_tp), (j_pt, j_pp) = jacobian
        psi_step = np.array([[1.0, 0.0], [h * j_pt, 1.0 + h * j_pp]])
        theta_step = np.array([[1.0 + h * j_tt, h * j_tp], [0.0, 1.0]])
        step = theta_step @ psi_step
    else:
        step = np.eye(2) + h * jacobian
    rho = np.max(np.abs(np.linalg.eigvals(step)))
    return int(np.ceil(np.log(factor) / np.log(rho)))


@given(starts, starts, st.floats(min_value=0.5, max_value=1.5), st.floats(0.05, 0.3), st.booleans())
def test_with_noise_small_step_descent_converges_to_the_equilibrium(
    theta, psi, sigma, h, alternating
):
    # Steps enough for the linearised map to shrink by 1e-6; a factor 100 more is allowed for
    # the non-normal transient and the slower nonlinear phase far from (0, 0).
    n_steps = steps_to_shrink(theory.dirac_jacobian(sigma), h, alternating, 1e-6)
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


# The penalties.


def brute_force_penalty(theta, psi, sigma, penalty, gamma):
    """Omega(theta, psi) = (gamma/2) (E[w_real] + E[w_fake]) psi^2 (|dphi/dx|^2 = psi^2 for the
    logit phi = -psi x), written from the weights' definitions, not from the field's
    derivative, with the noise expectation as a trapezoid sum as in the brute-force test."""
    eps = np.linspace(-12.0, 12.0, 24001)
    weight = np.exp(-0.5 * eps**2) / np.sqrt(2 * np.pi) * (24.0 / 24000)
    d_real = loss.sigmoid(-psi * sigma * eps)  # D = sigmoid(phi) at x~_real = sigma eps
    d_fake = loss.sigmoid(-psi * (theta + sigma * eps))
    w_real, w_fake = {"r1": (1.0, 0.0), "r2": (0.0, 1.0), "roth": ((1 - d_real) ** 2, d_fake**2)}[
        penalty
    ]
    return gamma / 2 * np.sum(weight * (w_real + w_fake)) * psi**2


@given(starts, starts, noise_sigmas, penalties, gammas)
def test_penalised_field_is_the_game_minus_the_penalty_gradient(theta, psi, sigma, penalty, gamma):
    plain = theory.dirac_vector_field(theta, psi, sigma)
    v_theta, v_psi = theory.dirac_vector_field(theta, psi, sigma, penalty, gamma)
    assert v_theta == plain[0]  # the penalty acts on the discriminator only
    d = 1e-5
    minus, plus = (brute_force_penalty(theta, psi + s, sigma, penalty, gamma) for s in (-d, d))
    # Central differences: truncation d^2/6 |P'''|, P''' / gamma = 3 W' + 3 psi W'' + psi^2 W'''/2
    # with W = E[w_real + w_fake], whose j-th psi-derivative is under 0.3 (E|x~_real|^j +
    # E|x~_fake|^j) (sigmoid^2's first three derivatives are under 0.3): with |psi| <= 1 and
    # |x~| <= |theta| + sigma |eps|, under 3 (1 + |theta| + sigma)^3. Rounding: the trapezoid sums'
    # eps log2(24001) |P| <= 1.3e-14, over 2d: 7e-10. Gauss-Hermite: the rate of the
    # brute-force test above, per unit of gamma, with a larger factor, as Roth's weights
    # square the sigmoid and the field differentiates them in psi (poles of higher order):
    # against this brute force, Richardson-extrapolated, on a grid of this test's range at
    # gamma = 1, up to 340 times (1 + sigma) convergence where the error passes 1e-10 (2.3e-8
    # at theta 0, psi 1, sigma 3), so x1000. R1's and R2's weights are constant: exact.
    scale = abs(psi) * sigma
    convergence = np.exp(-2 * np.pi * np.sqrt(theory.HERMITE_NODES) / scale) if scale else 0.0
    truncation = d**2 / 6 * 3 * (1 + abs(theta) + sigma) ** 3
    atol = 1e-9 + gamma * (truncation + 1000 * (1 + sigma) * convergence)
    assert_close("-dOmega/dpsi", v_psi - plain[1], -(plus - minus) / (2 * d), atol, 0.0)


@given(noise_sigmas, penalties, gammas)
def test_closed_form_penalised_jacobian_is_the_finite_difference_jacobian(sigma, penalty, gamma):
    numerical = theory.dirac_jacobian_numerical(sigma, 1e-4, penalty, gamma)
    # delta = 1e-4: the noise's share of delta^2 |v'''| / 6 is under 5e-8 (the test without
    # penalty); R1 and R2 add gamma psi, linear, so nothing; Roth adds d^3(dOmega/dpsi)/dpsi^3 =
    # 3 gamma sigma^2 / 2 near (0, 0) (E[s(psi sigma eps)^2] = 1/4 + psi^2 sigma^2 / 16 +
    # O(psi^4)), so delta^2 gamma sigma^2 / 4 <= 9e-8; the theta column is exact (v is linear
    # in theta on psi = 0). atol 2e-7 covers both.
    assert_close("J", numerical, theory.dirac_jacobian(sigma, penalty, gamma), 2e-7, 0.0)


@given(noise_sigmas, penalties, gammas)
def test_penalised_eigenvalues_are_those_of_the_finite_difference_jacobian(sigma, penalty, gamma):
    closed = theory.dirac_eigenvalues(sigma, penalty, gamma)
    jacobian = theory.dirac_jacobian_numerical(sigma, 1e-4, penalty, gamma)
    # A 2x2 matrix's eigenvalues are the roots of l^2 - trace l + det: compare their sum and
    # product, linear in J's entries, rather than the roots, which are sqrt-sensitive at the
    # double root. Entries within delta = 2e-7 (the test above): the trace within 2 delta,
    # the determinant within delta (|J_tt| + |J_tp| + |J_pt| + |J_pp|) + 2 delta^2.
    delta = 2e-7
    assert_close("sum", np.sum(closed).real, np.trace(jacobian), 2 * delta, 0.0)
    assert abs(np.sum(closed).imag) <= FLOAT64_EPS  # a conjugate pair, or two real roots
    det_atol = delta * np.sum(np.abs(jacobian)) + 2 * delta**2
    assert_close("product", np.prod(closed).real, np.linalg.det(jacobian), det_atol, 0.0)
    if sigma > 0.0 or gamma > 0.0:
        assert np.all(closed.real < 0.0)


@given(
    st.floats(min_value=1e-3, max_value=4.0),
    st.sampled_from((("r1", 2.0), ("r2", 2.0), ("roth", 1.0))),
)
def test_r1_r2_at_gamma_match_noise_at_sqrt_2_gamma_and_roth_at_sqrt_gamma(gamma, case):
    # R1 and R2 at gamma match noise at sigma = sqrt(2 gamma), Roth at sigma = sqrt(gamma).
    penalty, ratio = case
    sigma = np.sqrt(ratio * gamma)
    penalised = theory.dirac_eigenvalues(0.0, penalty, gamma)
    noisy = theory.dirac_eigenvalues(sigma)
    # sigma^2 rounds c = J_pp / 2 by a few eps |c|, which the root's sqrt turns into at most
    # |c| sqrt(6 eps) near the double root, |c| <= 2 here: 8e-8.
    assert_close("real", penalised.real, noisy.real, 8e-8, 0.0)
    assert_close("imag", penalised.imag, noisy.imag, 8e-8, 0.0)
    # The same from the fields themselves: the penalised field's Jacobian at (0, 0) is exact
    # to rounding without noise (v is linear there along each axis); noise's is within 2e-7.
    assert_close(
        "J",
        theory.dirac_jacobian_numerical(0.0, 1e-4, penalty, gamma),
        theory.dirac_jacobian_numerical(sigma, 1e-4),
        2e-7 + 1e-11,
        0.0,
    )


@given(
    starts.filter(bool),
    starts.filter(bool),
    st.floats(0.25, 2.0),
    st.floats(0.05, 0.3),
    penalties,
    st.booleans(),
)
def test_with_a_penalty_descent_converges_where_plain_descent_circles(
    theta, psi, gamma, h, penalty, alternating
):
    # gamma is R1's; Roth's penalty takes gamma / mass (mass = DIRAC_PENALTY_MASS = 1/2) for
    # the same Jacobian at (0, 0).
    gamma_penalty = gamma / theory.DIRAC_PENALTY_MASS[penalty]
    # Steps as in the noise test: the linearised map shrinks by 1e-6. The nonlinear phase
    # lags more here: over a grid of this test's range the end lay up to 105 times 1e-6 from
    # (0, 0) (R1 at gamma = 1 from (-1, 1), first steps slower than linear), so a factor 1000.
    n_steps = steps_to_shrink(theory.dirac_jacobian(0.0, penalty, gamma_penalty), h, alternating,
                              1e-6)  # fmt: skip
    start = np.hypot(theta, psi)
    plain = theory.dirac_trajectory(theta, psi, 0.0, h, n_steps, alternating)
    assert np.hypot(*plain[-1]) >= start / 2  # circles (alternating) or spirals out
    path = theory.dirac_trajectory(theta, psi, 0.0, h, n_steps, alternating, penalty, gamma_penalty)
    assert np.hypot(*path[-1]) <= 1e-3 * max(1.0, start)


@given(penalties)
def test_penalised_field_and_jacobians_broadcast_over_a_grid_of_gamma(penalty):
    # The figure evaluates R1's Jacobian on a grid of gamma at once: each entry must be the
    # scalar call, and both components of the field must take gamma's shape.
    gamma = np.linspace(0.0, 4.0, 5)
    v_theta, v_psi = theory.dirac_vector_field(0.5, 0.5, 1.0, penalty, gamma)
    assert v_theta.shape == v_psi.shape == (5,)
    jacobians = theory.dirac_jacobian_numerical(1.0, 1e-4, penalty, gamma)
    closed = theory.dirac_jacobian(1.0, penalty, gamma)
    assert jacobians.shape == closed.shape == (5, 2, 2)
    for g, jacobian, exact in zip(gamma, jacobians, closed, strict=True):
        assert np.array_equal(jacobian, theory.dirac_jacobian_numerical(1.0, 1e-4, penalty, g))
        assert np.array_equal(exact, theory.dirac_jacobian(1.0, penalty, g))
