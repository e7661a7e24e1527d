"""Tests of reference/loss.py: the stable softplus form is finite and exact out to logits of
+-1e4 (against the exact asymptotes and numpy.logaddexp), agrees with the naive formula
where that is safe, and its gradients match central differences; the discriminator's loss
on any targets (hard, smoothed or flipped: tests/test_noise.py checks how label noise makes
them) and both generator losses. loss.py draws no random numbers."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from reference import loss
from tests.strategies import batch_sizes, generator_loss_kinds, logits, rng_from, targets
from tests.test_mlp import FD_RTOL, H, central_difference
from tests.tolerance import FLOAT64_EPS, assert_close

FAR = 40.0  # beyond |logit| = 40, exp(-|logit|) < 4.3e-18: below the float64 spacing at 1


@given(data=st.data(), n=batch_sizes)
def test_softplus_and_sigmoid_match_logaddexp_everywhere(data, n):
    logit = data.draw(logits((n,)))
    # logaddexp(0, l) and scipy's expit are independent stable forms of log(1 + e^l) and
    # 1 / (1 + e^-l): agreement to a few eps relative, plus the smallest normal number
    # where the value itself underflows.
    tiny = float(np.finfo(np.float64).tiny)
    assert_close("softplus", loss.softplus(logit), np.logaddexp(0.0, logit), tiny, 4 * FLOAT64_EPS)
    assert_close("sigmoid", loss.sigmoid(logit), special.expit(logit), tiny, 4 * FLOAT64_EPS)
    s, s_minus = loss.sigmoid(logit), loss.sigmoid(-logit)
    assert np.all((s >= 0.0) & (s <= 1.0))
    # sigmoid(l) + sigmoid(-l) = 1: each term rounds once, so 2 eps.
    assert_close("symmetry", s + s_minus, np.ones(n), 2 * FLOAT64_EPS, 0.0)


@given(data=st.data(), n=batch_sizes)
def test_logistic_loss_is_exact_on_the_asymptotes(data, n):
    rng = rng_from(data.draw)
    logit = rng.choice([-1.0, 1.0], size=n) * np.exp(rng.uniform(np.log(FAR), np.log(1e4), size=n))
    t = data.draw(targets((n,)))
    value, dlogit = loss.logistic_loss(logit, t)
    # loss(l, t) -> (1 - t) l as l -> +inf and -t l as l -> -inf; the neglected term is
    # below exp(-FAR). softplus(l) - t l cancels when t ~ 1, each term rounding by eps |l|:
    # atol 2 eps mean|l|; the mean of the N non-negative terms adds N eps relative.
    asymptote = np.where(logit > 0.0, (1.0 - t) * logit, -t * logit)
    atol = np.exp(-FAR) + 2 * FLOAT64_EPS * np.mean(np.abs(logit))
    assert_close("loss", value, asymptote.mean(), atol, (n + 4) * FLOAT64_EPS)
    # dloss/dl -> (1 - t) and -t, divided by N for the mean.
    grad_asymptote = np.where(logit > 0.0, 1.0 - t, -t) / n
    assert_close("dlogit", dlogit, grad_asymptote, np.exp(-FAR), 2 * FLOAT64_EPS)


def test_extreme_logits_give_exact_saturated_values():
    logit = np.array([-1e4, 1e4])
    assert np.array_equal(loss.softplus(logit), [0.0, 1e4])
    assert np.array_equal(loss.sigmoid(logit), [0.0, 1.0])
    value, dlogit = loss.logistic_loss(logit, np.array([1.0, 0.0]))  # both maximally wrong
    assert value == 1e4 and np.array_equal(dlogit, [-0.5, 0.5])


@given(data=st.data(), n=batch_sizes)
def test_logistic_loss_agrees_with_the_naive_formula_where_it_is_safe(data, n):
    logit = data.draw(logits((n,), scale=20.0))
    t = data.draw(targets((n,)))
    value, dlogit = loss.logistic_loss(logit, t)
    s = 1.0 / (1.0 + np.exp(-logit))
    naive = np.mean(-t * np.log(s) - (1.0 - t) * np.log(1.0 - s))
    # 1 - s loses eps / (1 - s) ~ eps e^|l| relative to cancellation, and log turns that
    # into an absolute error of the same size: atol 4 eps e^max|l| (below 3e-7 at |l| = 20).
    atol = 4 * FLOAT64_EPS * (1.0 + np.exp(np.max(np.abs(logit))))
    assert_close("loss", value, naive, atol, 4 * FLOAT64_EPS)
    assert_close("dlogit", dlogit, (s - t) / n, 4 * FLOAT64_EPS, 4 * FLOAT64_EPS)


# Central differences of these smooth losses: truncation h^2 |softplus'''| / 6 < h^2 / 10
# and rounding ~ 4 eps |L| / h, with |L| <= 30 for logits within +-30 (the atol below).
FD_ATOL = 4 * FLOAT64_EPS * 30.0 / H + H**2


@given(data=st.data(), n=batch_sizes)
def test_logistic_loss_gradient_matches_central_differences(data, n):
    logit = data.draw(logits((n,), scale=30.0))
    t = data.draw(targets((n,)))
    _, dlogit = loss.logistic_loss(logit, t)
    expected = central_difference(lambda: loss.logistic_loss(logit, t)[0], logit)
    assert_close("dlogit", dlogit, expected, FD_ATOL, FD_RTOL)


@given(data=st.data(), kind=generator_loss_kinds, n=batch_sizes)
def test_generator_losses_values_and_gradients(data, kind, n):
    logit = data.draw(logits((n,), scale=30.0))
    value, dlogit = loss.generator_loss(logit, kind)
    # non-saturating: mean -log D = mean softplus(-l); minimax: mean log(1 - D) = -mean
    # softplus(l), against the independent oracle logaddexp. The reference computes
    # softplus(l) - t l, which cancels to an absolute error of 2 eps |l| per term.
    expected = np.mean(
        np.logaddexp(0.0, -logit) if kind == "non-saturating" else -np.logaddexp(0.0, logit)
    )
    atol = 2 * FLOAT64_EPS * np.mean(np.abs(logit))
    assert_close("loss", value, expected, atol, (n + 4) * FLOAT64_EPS)
    numeric = central_difference(lambda: loss.generator_loss(logit, kind)[0], logit)
    assert_close("dlogit", dlogit, numeric, FD_ATOL, FD_RTOL)


def test_generator_loss_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="wasserstein"):
        loss.generator_loss(np.zeros(3), "wasserstein")


@given(data=st.data(), n=batch_sizes)
def test_discriminator_loss_gradient_matches_central_differences(data, n):
    real, fake = data.draw(logits((n,), scale=30.0)), data.draw(logits((n,), scale=30.0))
    # Any targets in [0, 1]: hard labels, flipped ones and smoothed ones alike.
    target_real, target_fake = data.draw(targets((n,))), data.draw(targets((n,)))

    def value():
        return loss.discriminator_loss(real, fake, target_real, target_fake)[0]

    _, dreal, dfake = loss.discriminator_loss(real, fake, target_real, target_fake)
    assert_close("dlogit_real", dreal, central_difference(value, real), FD_ATOL, FD_RTOL)
    assert_close("dlogit_fake", dfake, central_difference(value, fake), FD_ATOL, FD_RTOL)


def test_discriminator_loss_at_the_undecided_discriminator_is_log_2():
    # D = 1/2 everywhere (logit 0), hard labels: every term is softplus(0) = log 2 exactly
    # up to one rounding of log1p(1).
    value, dreal, dfake = loss.discriminator_loss(np.zeros(5), np.zeros(5), np.ones(5), np.zeros(5))
    assert_close("loss", value, np.log(2.0), 0.0, 2 * FLOAT64_EPS)
    # Gradients (D - t) / 2B: -1/2 / 10 for real, +1/2 / 10 for fake.
    assert np.array_equal(dreal, np.full(5, -0.05)) and np.array_equal(dfake, np.full(5, 0.05))
