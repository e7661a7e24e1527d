"""Tests of reference/discriminator.py on its own terms: a fit is a pure function of its
seeds, the initialisation seed changes the network and nothing else, and the input gradient
the generator would read is the derivative of the logit."""

import numpy as np

from reference import data, discriminator, mlp, theory
from reference.philox import Stream, SubstepRandom, key_from_seed
from tests.tolerance import assert_close

P = data.mixture([[-1.0, 0.0]], 0.0)
Q = data.mixture([[1.0, 0.5], [0.5, -1.0]], [0.0, 0.1])


def test_a_fit_is_a_pure_function_of_its_seeds():
    first = discriminator.fit(P, Q, 0.3, 20, 16, 8, 1e-2, 3, 4)
    again = discriminator.fit(P, Q, 0.3, 20, 16, 8, 1e-2, 3, 4)
    assert np.array_equal(first.theta, again.theta)
    assert np.array_equal(first.losses, again.losses)


def test_the_init_seed_changes_only_the_initialisation():
    # With lr = 0 nothing moves: the parameters are the initialisation, and the first loss
    # is the loss of that network on the data seed's first batch, rebuilt here by hand.
    fits = [discriminator.fit(P, Q, 0.3, 1, 16, 8, 0.0, seed, 4) for seed in (1, 2)]
    key = key_from_seed(4)
    x_real = theory.sample_noisy(P, 0.3, SubstepRandom(key, 0, 0), Stream.REAL_NOISE, 16)
    x_fake = theory.sample_noisy(Q, 0.3, SubstepRandom(key, 0, 1), Stream.FAKE_NOISE, 16)
    for seed, fitted in zip((1, 2), fits, strict=True):
        assert np.array_equal(
            fitted.theta, mlp.init_params(fitted.spec, np.random.default_rng(seed))
        )
        logit_real, logit_fake = fitted.logit(x_real), fitted.logit(x_fake)
        by_hand = np.mean(np.logaddexp(0, -logit_real) + np.logaddexp(0, logit_fake)) / 2
        # Two routes to a mean of 32 softplus values of size ~1: a few eps relative.
        assert_close("first loss", fitted.losses[0], by_hand, 0.0, 1e-14)
    assert not np.array_equal(fits[0].theta, fits[1].theta)


def test_input_gradient_is_the_derivative_of_the_logit():
    fitted = discriminator.fit(P, Q, 0.3, 50, 32, 8, 1e-2, 0, 1)
    x, h = np.random.default_rng(0).normal(size=(16, 2)), 1e-6
    central = np.stack(
        [(fitted.logit(x + h * e) - fitted.logit(x - h * e)) / (2 * h) for e in np.eye(2)], axis=1
    )
    # The network is piecewise linear: central differences are exact unless a kink lies
    # within h of x (probability ~ h * kinks per unit, negligible); rounding eps |l| / h.
    assert_close("dlogit/dx", fitted.input_gradient(x), central, 1e-8, 0.0)
