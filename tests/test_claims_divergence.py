"""Claim 3, the divergence's shape. For disjoint supports the JS divergence without noise is
log 2 and constant under small shifts of q; with label flipping it drops below log 2 but is
still constant; with instance noise it is a smooth bowl, strictly decreasing as q moves
towards p and zero only when p = q (bounded below by a power of the total variation)."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reference import data, theory
from tests.strategies_theory import disjoint_atoms_1d, label_flips, mixtures_1d, sigmas
from tests.tolerance import FLOAT64_EPS, assert_close

# Shifts that keep disjoint_atoms_1d's supports disjoint (its gap is at least 0.2).
small_shifts = st.floats(min_value=-0.09, max_value=0.09)


def quadrature_tolerance(p, q, sigma) -> float:
    """Rounding of a quadrature sum: n terms, each ~100 eps relative (tests/test_theory.py)."""
    return len(theory.quadrature_grid(p, q, sigma)[0]) * 100 * FLOAT64_EPS


@given(disjoint_atoms_1d(), small_shifts)
def test_without_noise_js_is_log_2_and_flat_under_shifts(pq, shift):
    p, q = pq
    js = theory.information_atoms(p, q)
    # Every atom is certain (D = 0 or 1): only the final log 2 - 0 is left, exact.
    assert js == theory.LOG_2
    assert theory.information_atoms(p, theory.shifted(q, shift)) == js


@given(disjoint_atoms_1d(), small_shifts, st.floats(min_value=1e-3, max_value=0.5))
def test_label_flips_lower_the_divergence_but_leave_it_flat(pq, shift, label_flip):
    p, q = pq
    flipped = theory.information_atoms(p, q, label_flip)
    entropy = -label_flip * np.log(label_flip) - (1 - label_flip) * np.log1p(-label_flip)
    # log 2 - h(eps) summed over atoms of total mass 1: a few eps.
    assert_close("log 2 - h(eps)", flipped, theory.LOG_2 - entropy, 16 * FLOAT64_EPS, 0.0)
    assert flipped < theory.LOG_2
    assert theory.information_atoms(p, theory.shifted(q, shift), label_flip) == flipped


@given(
    st.floats(min_value=-1.0, max_value=1.0),
    st.sampled_from([0.0, 0.01, 0.1]),
    sigmas,
)
def test_with_noise_js_is_a_smooth_bowl_around_p(mean, std, sigma):
    """p is one atom or narrow Gaussian, q the same moved by t: JS[p_sigma || q_sigma] rises
    strictly with t (over four noisy stds, before it saturates) and is quadratic at t = 0."""
    p = data.mixture([[mean]], std)
    width = np.sqrt(std**2 + sigma**2)  # the noisy std
    shifts = np.linspace(0.0, 4 * width, 41)
    js = np.array([theory.information_quadrature(p, theory.shifted(p, t), sigma) for t in shifts])
    tolerance = quadrature_tolerance(p, theory.shifted(p, shifts[-1]), sigma)
    assert abs(js[0]) <= tolerance  # zero at p = q
    # Strictly increasing: the smallest step, near t = 0, is ~ t^2 / (8 width^2) = 1.2e-3,
    # far above the quadrature's rounding.
    assert np.all(np.diff(js) > tolerance)
    # Smooth at the bottom: JS ~ t^2 / 8 times the Fisher information 1 / width^2, with a
    # relative correction O(t^2 / width^2) = 1e-4 at t = width / 100.
    t = width / 100
    js_small = theory.information_quadrature(p, theory.shifted(p, t), sigma)
    assert_close("JS near 0", js_small, t**2 / (8 * width**2), tolerance, 1e-3)


@given(mixtures_1d(), mixtures_1d(), sigmas)
def test_with_noise_js_is_zero_only_when_p_equals_q(p, q, sigma):
    # Pinsker on both halves of JS: JS >= TV^2 / 2, with TV = 1/2 int |p_sigma - q_sigma|.
    # Convolution with a Gaussian is injective, so TV > 0, hence JS > 0, whenever p != q.
    x, spacing = theory.quadrature_grid(p, q, sigma)
    p_sigma = np.exp(theory.log_density(theory.noisy(p, sigma), x))
    q_sigma = np.exp(theory.log_density(theory.noisy(q, sigma), x))
    total_variation = 0.5 * spacing * np.sum(np.abs(p_sigma - q_sigma))
    js = theory.information_quadrature(p, q, sigma)
    assert js >= total_variation**2 / 2 - quadrature_tolerance(p, q, sigma)


@given(
    mixtures_1d(point_masses_only=True), mixtures_1d(point_masses_only=True), sigmas, label_flips
)
def test_instance_noise_never_adds_information(p, q, sigma, label_flip):
    # Data processing along y -> x -> x~: I(y~; x~) <= I(y~; x), the noiseless value.
    noisy = theory.information_quadrature(p, q, sigma, label_flip)
    assert noisy <= theory.information_atoms(p, q, label_flip) + quadrature_tolerance(p, q, sigma)
