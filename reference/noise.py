"""Instance noise, label noise, and the schedules that anneal the instance noise.

Instance noise (Sønderby et al. 2016; Arjovsky and Bottou 2017) adds N(0, sigma^2 I) to the
real *and* the generated samples before the discriminator sees them:

    x_noisy = x + sigma * eps,   eps ~ N(0, I)

so the discriminator compares p_sigma = p * N(0, sigma^2 I) with q_sigma, two densities that
overlap wherever p and q lie, however thin their supports (reference/theory.py).

Label noise leaves the samples alone and changes the targets instead: each hard label is
flipped with some probability, and real labels may be smoothed to a target below 1. It
lifts the loss of a perfect discriminator, but the supports stay disjoint
(tests/test_claims_*.py show the difference).

sigma usually starts at sigma0 and is annealed towards 0 as the generator gets close.

Contract: plain NumPy, float64. Samples are (B, dim); targets (B,).
"""

import numpy as np

from reference.philox import Stream, SubstepRandom


def add_instance_noise(x: np.ndarray, sigma: float, rng: SubstepRandom, kind: Stream):
    """x: (B, dim) -> x + sigma * eps, eps ~ N(0, I) from the substep's `kind` stream
    (REAL_NOISE or FAKE_NOISE). sigma = 0 returns exactly x, because eps is always finite."""
    return x + sigma * rng.normal(kind, x.shape)


def label_noise_targets(
    batch: int, real_target: float, label_flip: float, rng: SubstepRandom
) -> tuple[np.ndarray, np.ndarray]:
    """The discriminator's targets (real: (B,), fake: (B,)) after label noise.

    Each hard label (1 real, 0 fake) is flipped with probability label_flip, using the
    LABEL_FLIP stream (indices 0..B-1 real, B..2B-1 fake); then every label that reads
    'real' becomes real_target (one-sided smoothing: 1.0 means none).
    """
    flip_u = rng.uniform(Stream.LABEL_FLIP, 2 * batch)
    hard = np.concatenate([np.ones(batch), np.zeros(batch)])
    hard = np.where(flip_u < label_flip, 1.0 - hard, hard)
    target = hard * real_target
    return target[:batch], target[batch:]


ANNEAL_SCHEDULES = ("none", "linear", "exponential")
EXPONENTIAL_FINAL_FRACTION = 0.01  # the exponential schedule reaches 1% of sigma0 at anneal_steps


def sigma_schedule(sigma0: float, anneal: str, anneal_steps: int, step: int) -> float:
    """The instance-noise std at a training step.

    none:        sigma0
    linear:      sigma0 * max(0, 1 - step / anneal_steps)          (0 from anneal_steps on)
    exponential: sigma0 * 0.01 ** (step / anneal_steps)            (1% at anneal_steps, and
                                                                    still falling after it)
    """
    if anneal == "none":
        return float(sigma0)
    if anneal == "linear":
        return float(sigma0 * max(0.0, 1.0 - step / anneal_steps))
    if anneal == "exponential":
        return float(sigma0 * EXPONENTIAL_FINAL_FRACTION ** (step / anneal_steps))
    raise ValueError(f"anneal must be one of {ANNEAL_SCHEDULES}, got {anneal!r}")
