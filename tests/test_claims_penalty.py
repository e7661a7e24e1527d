"""The note's 'later work': Roth et al. (2017, sec. 3) showed that instance noise acts on the
logistic loss like the gradient penalty Omega. What holds, tested here on analytic 2-D
discriminators (reference/theory.py's docstring has the derivation):

- pointwise, for any smooth logit phi: noise adds sigma^2/2 (l'(phi) lap phi +
  l''(phi) |grad phi|^2) + O(sigma^4) to one sample's loss; the Laplacian stays;
- in expectation over real (p) and fake (q) samples at the optimal phi* = log p - log q,
  the Laplacian terms cancel and the sigma^2/2 coefficient is Omega; one sample's is not
  Omega's integrand;
- in expectation for another phi, the coefficient is int ((1 - D) grad p - D grad q) . grad phi
  (the Laplacian integrated by parts), and Omega misses it.

Expectations are deterministic quadrature: the noise by a product Gauss-Hermite rule, the
data by a product Gauss-Hermite rule per Gaussian component. The tolerance is the Taylor
remainder, from the heat equation: u(t) = E[h(x + sqrt(2t) eps)] has u' = E[lap h] and
u'' = E[lap^2 h], so with t = sigma^2/2, u(t) - u(0) - t u'(0) is at most t^2/2 sup|lap^2 h|,
and the coefficient (u(t) - u(0)) / t is within (sigma^2/4) sup|lap^2 h| of lap h(x) =
noise_second_order_term: the O(sigma^2) that the odd moments' vanishing leaves.
"""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import data, loss, theory
from tests.strategies import rng_from
from tests.tolerance import FLOAT64_EPS, assert_close

sigmas = st.floats(min_value=0.01, max_value=0.1)  # small: the expansion's regime


def gauss_hermite_2d(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(nodes (n^2, 2), weights (n^2,)): the product Gauss-Hermite rule for E over N(0, I_2)."""
    x, w = np.polynomial.hermite.hermgauss(n)
    z, w = np.sqrt(2.0) * x, w / np.sqrt(np.pi)  # nodes and weights for N(0, 1)
    nodes = np.stack(np.meshgrid(z, z, indexing="ij"), axis=-1).reshape(-1, 2)
    return nodes, np.outer(w, w).ravel()


# Noise: 8 nodes a side integrate the Taylor terms of h(x + sigma eps) through sigma^15 exactly;
# the rest, from (sigma^2/2)^8 lap^8 h / 8! on, measured against 20 nodes: 2e-11 |h| at
# sigma = 0.1, 1e-15 |h| at 0.05. Over sigma^2/2 that is < 1e-8: far below the tolerances.
NOISE_NODES = gauss_hermite_2d(8)
# Data: 40 nodes a side per component. On every integrand here the rule moves by < 5e-7 from 40
# to 80 nodes: far below the remainder's tolerances (>= 0.03), and half the 'by parts' one.
DATA_NODES = gauss_hermite_2d(40)


def noise_coefficient(h, x: np.ndarray, sigma: float) -> np.ndarray:
    """x: (N, 2) -> (E_eps[h(x + sigma eps)] - h(x)) / (sigma^2/2): (N,), h: (M, 2) -> (M,)."""
    nodes, weights = NOISE_NODES
    noisy = x[:, None, :] + sigma * nodes[None]  # (N, 64, 2)
    averaged = h(noisy.reshape(-1, 2)).reshape(noisy.shape[:2]) @ weights
    return (averaged - h(x)) / (sigma**2 / 2)


def expectation(distribution: data.Mixture, g) -> float:
    """E_{x ~ distribution}[g(x)] for a mixture of axis-aligned Gaussians, g: (N, 2) -> (N,)."""
    nodes, weights = DATA_NODES
    return sum(
        weight * float(weights @ g(mean + std * nodes))
        for mean, std, weight in zip(
            distribution.means, distribution.stds, distribution.weights, strict=True
        )
    )


# sup|lap^2 h| on a grid of this spacing over a box holding every feature: the sup on the grid
# and the stencil's O(spacing^2) error both move it by under 1% (0.2% from 0.02 to 0.01), so
# SUP_MARGIN covers them.
BIHARMONIC_SPACING = 0.02
SUP_MARGIN = 1.1
# The box for the sup: beyond it every bump below is under e^-40 of its height, and p and q
# (10 stds past every mean) hold under 1e-22 of their mass.
HALF_WIDTH = 6.0


def biharmonic_sup(h) -> float:
    """sup |lap^2 h| over [-HALF_WIDTH, HALF_WIDTH]^2 for h: (N, 2) -> (N,), by the 5-point
    Laplacian applied twice (rounding eps |h| 64 / spacing^4, about 1e-7 |h|: negligible)."""
    axis = np.arange(-HALF_WIDTH, HALF_WIDTH + BIHARMONIC_SPACING / 2, BIHARMONIC_SPACING)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)  # (G, G, 2)
    values = h(grid.reshape(-1, 2)).reshape(grid.shape[:2])

    def laplacian(u):
        return (
            u[2:, 1:-1] + u[:-2, 1:-1] + u[1:-1, 2:] + u[1:-1, :-2] - 4 * u[1:-1, 1:-1]
        ) / BIHARMONIC_SPACING**2

    return float(np.max(np.abs(laplacian(laplacian(values)))))


# An analytic discriminator: the logit phi(x) = c + sum_k a_k exp(-|x - m_k|^2 / (2 s_k^2)).
BUMP_OFFSET = 0.3
BUMP_HEIGHTS = np.array([1.5, -1.0, 0.8])
BUMP_CENTRES = np.array([[-0.5, 0.2], [0.6, -0.3], [0.1, 0.8]])
BUMP_WIDTHS = np.array([0.6, 0.5, 0.7])


def bumps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x: (N, 2) -> (phi (N,), grad phi (N, 2), lap phi (N,)) in closed form: each bump g_k
    has gradient -g_k (x - m_k) / s_k^2 and Laplacian g_k (|x - m_k|^2 / s_k^4 - 2 / s_k^2)."""
    offset = x[:, None, :] - BUMP_CENTRES[None]  # (N, K, 2)
    r2 = np.sum(offset**2, axis=-1)  # (N, K)
    g = BUMP_HEIGHTS * np.exp(-r2 / (2 * BUMP_WIDTHS**2))
    gradient = np.sum(g[..., None] * -offset / BUMP_WIDTHS[:, None] ** 2, axis=1)
    laplacian = np.sum(g * (r2 / BUMP_WIDTHS**4 - 2 / BUMP_WIDTHS**2), axis=-1)
    return BUMP_OFFSET + np.sum(g, axis=-1), gradient, laplacian


# Two smooth densities: p a mixture of two Gaussians, q of two others. Equal isotropic stds keep
# log p and log q analytic in a strip of fixed width (a mixture's complex zeros lie at distance
# pi std^2 / |m_1 - m_2| from the real plane), so Gauss-Hermite converges geometrically.
P = data.mixture([[-0.6, 0.0], [0.5, 0.5]], 0.5, [0.6, 0.4])
Q = data.mixture([[0.3, -0.5], [-0.4, 0.6]], 0.5, [0.5, 0.5])


def optimal_logit(x: np.ndarray) -> np.ndarray:
    """phi*(x) = log p(x) - log q(x): (N, 2) -> (N,)."""
    return theory.optimal_logit(P, Q, 0.0, x)


def omega(logit_fn, gradient_fn) -> float:
    """Roth et al.'s Omega = E_p[(1 - D)^2 |grad phi|^2] + E_q[D^2 |grad phi|^2], D = sigmoid(phi),
    for logit_fn: (N, 2) -> (N,) and gradient_fn: (N, 2) -> (N, 2)."""

    def real(x):
        return (1 - loss.sigmoid(logit_fn(x))) ** 2 * np.sum(gradient_fn(x) ** 2, axis=-1)

    def fake(x):
        return loss.sigmoid(logit_fn(x)) ** 2 * np.sum(gradient_fn(x) ** 2, axis=-1)

    return expectation(P, real) + expectation(Q, fake)


def expected_noise_coefficient(logit_fn, sigma: float) -> float:
    """(E_p E_eps[l_real] + E_q E_eps[l_fake] - the same without noise) / (sigma^2/2), l_real =
    softplus(-phi), l_fake = softplus(phi): the noise's effect on the summed expected loss."""

    def real(x):
        return noise_coefficient(lambda y: loss.softplus(-logit_fn(y)), x, sigma)

    def fake(x):
        return noise_coefficient(lambda y: loss.softplus(logit_fn(y)), x, sigma)

    return expectation(P, real) + expectation(Q, fake)


@functools.cache
def loss_biharmonic_sups(logit_name: str) -> tuple[float, float]:
    """(sup|lap^2 l_real(phi)|, sup|lap^2 l_fake(phi)|) for the logit 'optimal' or 'bumps',
    l_real = softplus(-phi) (target 1), l_fake = softplus(phi) (target 0). p and q are
    probability measures, so the expected remainder is at most sigma^2/4 times their sum."""
    logit_fn = {"optimal": optimal_logit, "bumps": lambda x: bumps(x)[0]}[logit_name]
    return tuple(biharmonic_sup(lambda x, s=s: loss.softplus(s * logit_fn(x))) for s in (-1.0, 1.0))


@given(sigmas, st.floats(min_value=0.0, max_value=1.0), st.data())
def test_pointwise_noise_adds_the_laplacian_and_the_gradient_terms(sigma, target, drawn):
    x = rng_from(drawn.draw).uniform(-2.0, 2.0, size=(16, 2))  # any points, near the bumps
    phi, gradient, laplacian = bumps(x)
    expected = theory.noise_second_order_term(phi, gradient, laplacian, target)
    # lap^2 h is affine in the target: its sup is at most the mix of the real and fake ones.
    real_sup, fake_sup = loss_biharmonic_sups("bumps")
    sup = target * real_sup + (1 - target) * fake_sup

    def h(y):
        return loss.softplus(bumps(y)[0]) - target * bumps(y)[0]

    # The remainder (module docstring), plus rounding: a difference of O(|h|) sums over sigma^2/2.
    atol = SUP_MARGIN * sigma**2 / 4 * sup + 16 * FLOAT64_EPS * np.max(np.abs(h(x))) / sigma**2
    assert_close("coefficient", noise_coefficient(h, x, sigma), expected, atol, 0.0)


@pytest.mark.parametrize("sigma", [0.1, 0.05, 0.025])
def test_at_the_optimal_discriminator_noise_adds_omega_in_expectation_only(sigma):
    real_sup, fake_sup = loss_biharmonic_sups("optimal")
    atol = SUP_MARGIN * sigma**2 / 4 * (real_sup + fake_sup)

    def gradient(x):
        return theory.optimal_logit_gradient(P, Q, 0.0, x)

    coefficient = expected_noise_coefficient(optimal_logit, sigma)
    assert_close("coefficient", coefficient, omega(optimal_logit, gradient), atol, 0.0)
    # One real sample's coefficient is not Omega's integrand: it keeps -(1 - D) lap phi*,
    # which cancels only against the fake samples' D lap phi* where both densities weigh in.
    x = np.stack(np.meshgrid(*2 * [np.linspace(-1.0, 1.0, 5)], indexing="ij"), -1).reshape(-1, 2)
    real = noise_coefficient(lambda y: loss.softplus(-optimal_logit(y)), x, sigma)
    d = loss.sigmoid(optimal_logit(x))
    integrand = (1 - d) ** 2 * np.sum(gradient(x) ** 2, axis=-1)
    assert np.max(np.abs(real - integrand)) > SUP_MARGIN * sigma**2 / 4 * real_sup


@pytest.mark.parametrize("sigma", [0.1, 0.05, 0.025])
def test_for_another_discriminator_the_expected_coefficient_is_not_omega(sigma):
    def logit(x):
        return bumps(x)[0]

    def gradient(x):
        return bumps(x)[1]

    def pointwise(target):
        return lambda x: theory.noise_second_order_term(*bumps(x), target)

    # The pointwise coefficient, averaged: E_p[l_real' lap phi + ...] + E_q[...]; Laplacian kept.
    averaged = expectation(P, pointwise(1.0)) + expectation(Q, pointwise(0.0))
    atol = SUP_MARGIN * sigma**2 / 4 * sum(loss_biharmonic_sups("bumps"))
    coefficient = expected_noise_coefficient(logit, sigma)
    assert_close("coefficient", coefficient, averaged, atol, 0.0)

    # Integrated by parts: int ((1 - D) grad p - D grad q) . grad phi, no Laplacian. The two
    # are one integral written twice, so they agree to the rule's accuracy: 2 x 5e-7.
    def by_parts(distribution, weight):
        def g(x):
            score = theory.log_density_gradient(distribution, x)  # grad p / p
            return weight(loss.sigmoid(logit(x))) * np.sum(score * gradient(x), axis=-1)

        return g

    integrated = expectation(P, by_parts(P, lambda d: 1 - d)) - expectation(
        Q, by_parts(Q, lambda d: d)
    )
    assert_close("by parts", integrated, averaged, 1e-6, 0.0)
    # Omega is that coefficient only at phi* (grad log p - grad log q = grad phi*): here it
    # misses it by more than the remainder allows.
    assert abs(omega(logit, gradient) - coefficient) > atol
