"""Tests of reference/theory.py's densities and divergences on their own terms: the noisy
densities normalise and match the Gaussian formula, the log-sum-exp stays exact far out,
the optimal discriminator is the posterior, the Bayes-optimal loss is log 2 minus the
information, the Monte Carlo and quadrature estimates agree, and sigma -> 0 reaches the
point-mass limit. The note's claims proper live in tests/test_claims_*.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import i0e, i1e

from reference import data, loss, theory
from tests.strategies import rng_from
from tests.strategies_theory import label_flips, mixtures_1d, sigmas
from tests.tolerance import FLOAT64_EPS, assert_close

# A log-sum-exp over K components of Gaussian exponents up to TAIL_STDS^2 / 2 = 72 loses a
# few ulps of the largest term: 1e3 eps absolute covers |log density| <= ~1e3 with margin.
LOG_DENSITY_ATOL = 1e3 * FLOAT64_EPS


def quadrature_sum_tolerance(n_points: int) -> float:
    """A sum of n positive terms, each with relative error <= ~100 eps (exp of a log
    density of size <= 72 with its own rounding), is off by <= n * 100 eps relative."""
    return n_points * 100 * FLOAT64_EPS


@given(mixtures_1d(), sigmas)
def test_noisy_widens_every_std_and_keeps_the_rest(p, sigma):
    p_sigma = theory.noisy(p, sigma)
    assert_close("stds", p_sigma.stds, np.sqrt(p.stds**2 + sigma**2), 0.0, FLOAT64_EPS)
    assert np.array_equal(p_sigma.means, p.means)
    assert np.array_equal(p_sigma.weights, p.weights)
    assert np.array_equal(theory.noisy(p, 0.0).stds, p.stds)  # sigma = 0: exactly p


@given(mixtures_1d(), mixtures_1d(), sigmas)
def test_noisy_densities_integrate_to_one_on_the_quadrature_grid(p, q, sigma):
    x, spacing = theory.quadrature_grid(p, q, sigma)
    tolerance = quadrature_sum_tolerance(len(x))
    for name, distribution in (("p_sigma", p), ("q_sigma", q)):
        mass = spacing * np.sum(np.exp(theory.log_density(theory.noisy(distribution, sigma), x)))
        assert_close(name, mass, 1.0, tolerance, 0.0)


def test_log_density_matches_the_gaussian_formula_in_two_dimensions():
    rng = np.random.default_rng(3)
    means, stds, weights = rng.normal(size=(3, 2)), rng.uniform(0.2, 1.0, (3, 2)), [1, 2, 3]
    mix = data.mixture(means, stds, weights)
    x = rng.normal(size=(50, 2))
    direct = sum(
        w * np.prod(np.exp(-0.5 * ((x - m) / s) ** 2) / (np.sqrt(2 * np.pi) * s), axis=1)
        for w, m, s in zip(mix.weights, means, stds, strict=True)
    )
    # Two routes to the same moderate numbers (|x - m| / s < ~20): a few ulps of log p.
    assert_close("log p", theory.log_density(mix, x), np.log(direct), LOG_DENSITY_ATOL, 0.0)


def test_log_density_is_exact_a_thousand_stds_out():
    single = data.mixture([[0.5]], 0.01)
    x = np.array([[0.5 + 1000 * 0.01], [0.5 - 3000 * 0.01]])
    z = (x[:, 0] - 0.5) / 0.01
    exact = -0.5 * z**2 - np.log(np.sqrt(2 * np.pi) * 0.01)  # exp() of this underflows to 0
    # |log p| ~ 4.5e6 here: relative rounding of a few eps of that magnitude.
    assert_close("far log p", theory.log_density(single, x), exact, 0.0, 8 * FLOAT64_EPS)


@given(mixtures_1d(), mixtures_1d(), sigmas)
def test_optimal_logit_gradient_matches_central_differences(p, q, sigma):
    x, _ = theory.quadrature_grid(p, q, sigma)
    x = x[:: max(1, len(x) // 64)]  # a spread of points, tails included
    h = 1e-3 * np.sqrt(min(np.min(p.stds), np.min(q.stds)) ** 2 + sigma**2)
    logit = theory.optimal_logit(p, q, sigma, x)

    def central(step):
        after, before = (theory.optimal_logit(p, q, sigma, x + s) for s in (step, -step))
        return (after - before) / (2 * step)

    # Richardson: central(h) errs by about (central(2h) - central(h)) / 3; allow 3x that,
    # plus the rounding of a difference of logits, 100 eps |l| / h.
    tolerance = np.abs(central(2 * h) - central(h)) + 100 * FLOAT64_EPS * (1 + np.abs(logit)) / h
    error = np.abs(theory.optimal_logit_gradient(p, q, sigma, x)[:, 0] - central(h))
    assert np.all(error <= tolerance), np.max(error / tolerance)


def test_log_density_gradient_in_two_dimensions():
    rng = np.random.default_rng(4)
    mix = data.mixture(rng.normal(size=(3, 2)), rng.uniform(0.3, 1.0, (3, 2)))
    x, h = rng.normal(size=(20, 2)), 1e-5
    central = np.stack(
        [
            (theory.log_density(mix, x + h * e) - theory.log_density(mix, x - h * e)) / (2 * h)
            for e in np.eye(2)
        ],
        axis=1,
    )
    # Stds >= 0.3 and |x - m| <~ 5: third derivatives <~ 1e3, truncation h^2 / 6 * 1e3 ~ 2e-8;
    # rounding eps * 30 / h ~ 7e-10.
    assert_close("grad log p", theory.log_density_gradient(mix, x), central, 1e-7, 0.0)


def test_densities_need_positive_stds():
    with pytest.raises(ValueError, match="std > 0"):
        theory.log_density(data.get_dataset("points"), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="sigma > 0"):
        theory.quadrature_grid(data.get_dataset("points"), data.get_dataset("points"), 0.0)


@given(mixtures_1d(), mixtures_1d(), sigmas)
def test_optimal_discriminator_is_the_posterior_of_real(p, q, sigma):
    x, _ = theory.quadrature_grid(p, q, sigma)
    logit = theory.optimal_logit(p, q, sigma, x)
    assert np.all(np.isfinite(logit))  # the note's first assumption, restored by the noise
    # Swapping p and q negates the logit exactly (two subtractions of the same numbers).
    assert np.array_equal(theory.optimal_logit(q, p, sigma, x), -logit)
    posterior = np.exp(theory.log_density(theory.noisy(p, sigma), x)) / (
        2 * theory.mixture_density(p, q, sigma, x)
    )
    # Both are ratios of densities of relative error ~100 eps (see quadrature_sum_tolerance).
    assert_close(
        "D*", theory.optimal_discriminator(p, q, sigma, x), posterior, 1e-12, 1e3 * FLOAT64_EPS
    )


def flipped_logit(logit: np.ndarray, label_flip: float) -> np.ndarray:
    """logit(pi) for pi = (1 - eps) D + eps (1 - D), D = sigmoid(logit), in logs so that a
    tiny eps and a saturated D stay exact."""
    log_d, log_1md = -loss.softplus(-logit), -loss.softplus(logit)
    with np.errstate(divide="ignore"):
        log_keep, log_flip = np.log1p(-label_flip), np.log(label_flip)
    return np.logaddexp(log_keep + log_d, log_flip + log_1md) - np.logaddexp(
        log_flip + log_d, log_keep + log_1md
    )


@given(mixtures_1d(), mixtures_1d(), sigmas, label_flips, st.floats(0.1, 1.0))
def test_bayes_optimal_loss_is_log_2_minus_the_information(p, q, sigma, label_flip, wiggle):
    def best(x):
        return flipped_logit(theory.optimal_logit(p, q, sigma, x), label_flip)

    def other(x):
        return best(x) + wiggle * np.sin(3.0 * x[:, 0])

    optimum = theory.LOG_2 - theory.information_quadrature(p, q, sigma, label_flip)
    tolerance = quadrature_sum_tolerance(len(theory.quadrature_grid(p, q, sigma)[0]))
    # Two routes to E_m[h(pi)]: softplus(l) - pi l at l = logit(pi), and the entropy from logs.
    found = theory.expected_loss(p, q, sigma, best, label_flip)
    assert_close("optimal loss", found, optimum, tolerance, 0.0)
    # Gibbs' inequality: any other discriminator does worse.
    assert theory.expected_loss(p, q, sigma, other, label_flip) > optimum - tolerance


@given(mixtures_1d(point_masses_only=True), mixtures_1d(point_masses_only=True), label_flips)
def test_bayes_optimal_loss_on_atoms_is_log_2_minus_the_information(p, q, label_flip):
    # sigma = 0: the loss is a sum over atoms; the best logit at an atom is log(P / Q),
    # flipped. Disjoint atoms have infinite logits, so the test holds a large finite one,
    # whose loss exceeds the optimum by ~ exp(-|l|) at most: 1e-13 at |l| = 30.
    atoms, index = np.unique(np.concatenate([p.means, q.means]), axis=0, return_inverse=True)
    mass_p = np.bincount(index[: len(p.weights)], p.weights, minlength=len(atoms))
    mass_q = np.bincount(index[len(p.weights) :], q.weights, minlength=len(atoms))
    with np.errstate(divide="ignore"):
        logit_at_atoms = np.clip(np.log(mass_p) - np.log(mass_q), -30.0, 30.0)

    def best(x):
        at = np.argmin(np.abs(x - atoms.T), axis=1)
        return flipped_logit(logit_at_atoms[at], label_flip)

    optimum = theory.LOG_2 - theory.information_atoms(p, q, label_flip)
    assert_close(
        "optimal loss", theory.expected_loss(p, q, 0.0, best, label_flip), optimum, 1e-12, 0.0
    )
    # The constant D = 1/2 costs log 2 whatever the labels: softplus(0) summed over mass 1.
    flat = theory.expected_loss(p, q, 0.0, lambda x: np.zeros(len(x)), label_flip)
    assert_close("D = 1/2", flat, theory.LOG_2, 0.0, 8 * FLOAT64_EPS)


@given(mixtures_1d(), mixtures_1d(), sigmas, label_flips)
def test_information_is_bounded_symmetric_and_shrunk_by_label_flips(p, q, sigma, label_flip):
    js = theory.information_quadrature(p, q, sigma)
    flipped = theory.information_quadrature(p, q, sigma, label_flip)
    x, _ = theory.quadrature_grid(p, q, sigma)
    tolerance = quadrature_sum_tolerance(len(x))
    assert -tolerance <= flipped <= js + tolerance <= theory.LOG_2 + 2 * tolerance
    assert_close("symmetry", theory.information_quadrature(q, p, sigma), js, tolerance, 0.0)
    assert_close("I(p, p)", theory.information_quadrature(p, p, sigma), 0.0, tolerance, 0.0)


@given(mixtures_1d(), mixtures_1d(), st.floats(min_value=0.2, max_value=1.0), label_flips)
def test_monte_carlo_agrees_with_quadrature_in_one_dimension(p, q, sigma, label_flip):
    n = 4096  # Monte Carlo samples of each law
    estimate, standard_error = theory.information_monte_carlo(p, q, sigma, 11, n, label_flip)
    assert standard_error <= theory.LOG_2 / (2 * np.sqrt(n))  # the documented bound
    exact = theory.information_quadrature(p, q, sigma, label_flip)
    # Not 5 sample standard errors: where the noisy supports barely overlap, h is 0 but in a
    # rare region and the sample variance misses it. Bernstein's inequality instead, over the
    # 2n independent terms h / 2n in [0, log 2 / 2n], whose variances sum to at most
    # log 2 E_m[h] / 2n = log 2 (log 2 - exact) / 2n: a false alarm has probability <= 1e-6.
    log_odds = np.log(2 / 1e-6)
    variance = theory.LOG_2 * max(theory.LOG_2 - exact, 0.0) / (2 * n)
    bound = np.sqrt(2 * variance * log_odds) + 2 / 3 * theory.LOG_2 / (2 * n) * log_odds
    assert abs(estimate - exact) <= bound + 1e-12


def test_monte_carlo_in_two_dimensions_reduces_to_the_informative_axis():
    # Along axis 1 every component of p and q is the same N(0.3, 0.2^2): that coordinate is
    # independent of the label, so I(y; x) equals the 1-D information of axis 0 alone.
    p = data.mixture([[-0.5, 0.3], [0.4, 0.3]], [[0.0, 0.2], [0.05, 0.2]], [1.0, 2.0])
    q = data.mixture([[0.6, 0.3]], [[0.0, 0.2]])
    p_1d, q_1d = (data.Mixture(m.means[:, :1], m.stds[:, :1], m.weights) for m in (p, q))
    for sigma, label_flip in ((0.3, 0.0), (0.6, 0.1)):
        estimate, standard_error = theory.information_monte_carlo(p, q, sigma, 5, 2**14, label_flip)
        exact = theory.information_quadrature(p_1d, q_1d, sigma, label_flip)
        assert abs(estimate - exact) <= 5 * standard_error  # 5 standard errors, as above


@given(st.data(), label_flips)
def test_small_noise_reaches_the_point_mass_limit(draw, label_flip):
    # Atoms on a lattice of spacing 0.5, so that p and q may share some: with sigma = 0.5 / 40
    # two distinct atoms overlap only in tails of exp(-(0.25 / sigma)^2 / 2) = exp(-200).
    rng = rng_from(draw.draw)
    lattice = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    p, q = (
        data.mixture(rng.choice(lattice, (k, 1), replace=False), 0.0, rng.uniform(0.3, 1, k))
        for k in rng.integers(1, 4, size=2)
    )
    sigma = 0.5 / 40
    limit = theory.information_atoms(p, q, label_flip)
    x, _ = theory.quadrature_grid(p, q, sigma)
    assert_close(
        "I at sigma -> 0",
        theory.information_quadrature(p, q, sigma, label_flip),
        limit,
        quadrature_sum_tolerance(len(x)),
        0.0,
    )


def test_information_atoms_by_hand():
    p = data.mixture([[0.0], [1.0]], 0.0, [0.25, 0.75])
    q = data.mixture([[0.0], [2.0]], 0.0)
    # Shared atom 0: m = (0.25 + 0.5) / 2, D = 1/3; the others are certain.
    d, mass = 1 / 3, 0.375
    entropy = -d * np.log(d) - (1 - d) * np.log(1 - d)
    assert_close(
        "I", theory.information_atoms(p, q), np.log(2) - mass * entropy, 0.0, 4 * FLOAT64_EPS
    )
    with pytest.raises(ValueError, match="point masses"):
        theory.information_atoms(p, data.mixture([[0.0]], 0.1))


def test_binary_entropy_route_matches_the_loss_route_at_extreme_logits():
    # softplus(l) - sigmoid(l) l is the entropy of sigmoid(l); the theory's log route must
    # agree where sigmoid(l) rounds to 0 or 1 and a naive p log p would give nan.
    logit = np.array([-800.0, -40.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    log_d, log_1md = -loss.softplus(-logit), -loss.softplus(logit)
    via_loss = loss.softplus(logit) - loss.sigmoid(logit) * logit
    # Each side rounds a handful of times on numbers <= 800: a few eps absolute.
    assert_close(
        "h", theory._flipped_entropy(log_d, log_1md, 0.0), via_loss, 1e-15, 8 * FLOAT64_EPS
    )


def circle_points(radius: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(x: (n, 2), r: (n,)): radii evenly from 0 to 30 radius, the range noisy_circle is
    accurate over, at random angles."""
    r = np.linspace(0.0, 30.0 * radius, n)
    angle = np.random.default_rng(seed).uniform(0.0, 2.0 * np.pi, n)
    return r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1), r


@pytest.mark.parametrize("radius", [0.5, 2.0])
@pytest.mark.parametrize("sigma", [0.05, 0.5, 3.0])
def test_a_noisy_circle_has_the_rice_density_and_its_gradient(radius, sigma):
    # The oracle: p_sigma(x) = exp(-(r - R)^2 / 2 sigma^2) I_0(z) e^-z / (2 pi sigma^2) with
    # z = r R / sigma^2, and d log p_sigma / dr = (R I_1(z) / I_0(z) - r) / sigma^2 along x / r,
    # from scipy's scaled Bessel functions, independent of the mixture that approximates it.
    p_sigma = theory.noisy(data.Circle(radius), sigma)
    x, r = circle_points(radius, 61, seed=int(100 * sigma))
    z = r * radius / sigma**2
    exact = -np.log(2 * np.pi * sigma**2) - (r - radius) ** 2 / (2 * sigma**2) + np.log(i0e(z))
    # The aliasing error is below 1e-18 relative (noisy_circle); what is left is rounding of
    # exponents of size |log p| on both sides (measured: at most 2 eps (1 + |log p|)).
    assert_close("log p_sigma", theory.log_density(p_sigma, x), exact, 8 * FLOAT64_EPS,
                 8 * FLOAT64_EPS)  # fmt: skip
    outward = x[1:] / r[1:, None]  # r = 0 is the centre, where the gradient is 0 by symmetry
    slope = (radius * i1e(z[1:]) / i0e(z[1:]) - r[1:]) / sigma**2
    gradient = theory.log_density_gradient(p_sigma, x[1:])
    error = np.max(np.abs(gradient - outward * slope[:, None]), axis=1)
    # Each responsibility is the exp of a log term off by eps |log p|; the pulls it weights
    # are at most (r + R) / sigma^2 (measured: 0.5 eps (r + R) / sigma^2 (1 + |log p|)).
    tolerance = 4 * FLOAT64_EPS * (r[1:] + radius) / sigma**2 * (1 + np.abs(exact[1:]))
    assert np.all(error <= tolerance), np.max(error / tolerance)


def test_a_circle_needs_instance_noise_for_a_density():
    with pytest.raises(ValueError, match="sigma > 0"):
        theory.noisy(data.Circle(2.0), 0.0)
