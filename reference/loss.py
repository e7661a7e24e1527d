"""The logistic loss on logits, in the numerically stable softplus form, and the GAN losses.

For a logit l and a target t in [0, 1] (the probability that the sample is real),

    loss(l, t)    = softplus(l) - t * l        (= -t log sigmoid(l) - (1 - t) log(1 - sigmoid(l)))
    dloss/dl      = sigmoid(l) - t
    softplus(l)   = max(l, 0) + log1p(exp(-|l|))

which stays finite and exact for any finite logit (|l| = 1e4 included): neither exp nor log
ever sees an argument that overflows or underflows to a wrong answer.

Contract: plain NumPy, float64. Logits are (B,); a loss is the mean over its samples.
"""

import numpy as np

GENERATOR_LOSSES = ("non-saturating", "minimax")


def softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only, so neither branch overflows.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def logistic_loss(logit: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """logit, target: (N,) -> (mean loss, dloss/dlogit: (N,))."""
    n = logit.shape[0]
    return float(np.mean(softplus(logit) - target * logit)), (sigmoid(logit) - target) / n


def discriminator_loss(
    logit_real: np.ndarray, logit_fake: np.ndarray, target_real: np.ndarray, target_fake: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """The discriminator's logistic regression, real against fake, averaged over all 2B
    samples (so that at the optimum, without label noise, it equals log 2 - JS[p || q]).
    The targets are 1 for real and 0 for fake, or what label noise made of them
    (reference/noise.py::label_noise_targets).

    logit_real, logit_fake, target_real, target_fake: (B,) ->
    (loss, dlogit_real: (B,), dlogit_fake: (B,)).
    """
    batch = logit_real.shape[0]
    loss, dlogit = logistic_loss(
        np.concatenate([logit_real, logit_fake]), np.concatenate([target_real, target_fake])
    )
    return loss, dlogit[:batch], dlogit[batch:]


def generator_loss(logit_fake: np.ndarray, kind: str) -> tuple[float, np.ndarray]:
    """logit_fake: (B,) -> (loss, dloss/dlogit_fake: (B,)).

    non-saturating: mean -log D(G(z))      = mean loss(l, 1)   (Goodfellow et al. 2014, sec. 3)
    minimax:        mean  log(1 - D(G(z))) = -mean loss(l, 0)  (the game's own value)
    """
    if kind == "non-saturating":
        return logistic_loss(logit_fake, np.ones_like(logit_fake))
    if kind == "minimax":
        loss, dlogit = logistic_loss(logit_fake, np.zeros_like(logit_fake))
        return -loss, -dlogit
    raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")
