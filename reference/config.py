"""A GAN's configuration: every hyperparameter of a run, checked when it is made.

`GANConfig` is frozen: a run is a pure function of it (and of where it runs). It rejects an
invalid setting itself, raising ConfigError that names the field and the value, so that
run.py can say which option was wrong. It also derives what the fields imply: the data
dimension, the two networks' layer sizes, and the noise and penalty schedules.
"""

import math
from dataclasses import dataclass

import numpy as np

from reference import data, loss, mlp, noise, penalty

HIDDEN_LAYERS = 2
GENERATOR_ACTIVATION = "relu"
DISCRIMINATOR_ACTIVATION = "leaky_relu"
# Steps are the Philox counter's 32-bit step word; metrics.py draws its samples at the last
# one, so training runs steps 0 .. MAX_STEPS - 1 at most and never reaches it.
MAX_STEPS = 2**32 - 1
# The largest sigma0 and gamma float32 training holds, each with its reason (both keep D's
# gradients, ~ sigma0 and ~ gamma, far from overflowing float32 when Adam squares them):
MAX_SIGMA0 = 1e3  # x + sigma0 eps keeps x (|x| <= 4, |eps| < 6.8) to 5e-4; a ring mode's std: 0.02
MAX_GAMMA = 1e3  # added to gamma times a penalty's, D's logistic gradients (<= 1) round by <= 1e-4


class ConfigError(ValueError):
    """A GANConfig field with a value it cannot take; `field` names it."""

    def __init__(self, field: str, value, expected: str):
        super().__init__(f"{field}: expected {expected}, got {value!r}")
        self.field = field


def _finite_in(value, low: float, high: float, low_open=False, high_open=False) -> bool:
    """value is a finite real in the interval from low to high (open where said)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below


def _whole_in(value, low: int, high: int) -> bool:
    return (
        isinstance(value, int | np.integer) and not isinstance(value, bool) and low <= value <= high
    )


@dataclass(frozen=True)
class GANConfig:
    dataset: str = "ring"
    steps: int = 3000
    batch: int = 256
    hidden: int = 128
    latent: int = 8
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int = 1
    sigma0: float = 0.0  # initial instance-noise std; 0 turns instance noise off
    anneal: str = "none"
    anneal_steps: int = 3000
    real_target: float = 1.0  # target for real labels; 1.0 means no smoothing
    label_flip: float = 0.0  # probability of flipping each label
    penalty: str = "none"  # a gradient penalty on D (reference/penalty.py)
    gamma: float = 0.0  # its initial weight, annealed as sigma is
    generator_loss: str = "non-saturating"
    seed: int = 0

    def __post_init__(self):
        """Reject what no run can use, naming the field: (field, valid?, what is expected)."""
        checks = (
            ("dataset", self.dataset in data.DATASET_NAMES,
             f"one of {', '.join(data.DATASET_NAMES)}"),
            ("steps", _whole_in(self.steps, 1, MAX_STEPS), f"an integer in [1, {MAX_STEPS}]"),
            ("batch", _whole_in(self.batch, 1, 2**31 - 1), "a positive integer"),
            ("hidden", _whole_in(self.hidden, 1, 2**31 - 1), "a positive integer"),
            ("latent", _whole_in(self.latent, 1, 2**31 - 1), "a positive integer"),
            ("lr", _finite_in(self.lr, 0.0, math.inf, low_open=True), "a finite number > 0"),
            ("beta1", _finite_in(self.beta1, 0.0, 1.0, high_open=True), "a number in [0, 1)"),
            ("beta2", _finite_in(self.beta2, 0.0, 1.0, high_open=True), "a number in [0, 1)"),
            ("d_steps", _whole_in(self.d_steps, 1, 2**20), "an integer in [1, 2**20]"),
            ("sigma0", _finite_in(self.sigma0, 0.0, math.inf), "a finite number >= 0"),
            ("sigma0", _finite_in(self.sigma0, 0.0, MAX_SIGMA0),
             f"a number in [0, {MAX_SIGMA0:g}]"),
            ("anneal", self.anneal in noise.ANNEAL_SCHEDULES, f"one of {noise.ANNEAL_SCHEDULES}"),
            ("anneal_steps", _whole_in(self.anneal_steps, 1, MAX_STEPS), "a positive integer"),
            ("real_target", _finite_in(self.real_target, 0.0, 1.0, low_open=True),
             "a target in (0, 1]"),
            ("label_flip", _finite_in(self.label_flip, 0.0, 1.0), "a probability in [0, 1]"),
            ("penalty", self.penalty in penalty.PENALTIES, f"one of {penalty.PENALTIES}"),
            ("gamma", _finite_in(self.gamma, 0.0, math.inf), "a finite number >= 0"),
            ("gamma", _finite_in(self.gamma, 0.0, MAX_GAMMA), f"a number in [0, {MAX_GAMMA:g}]"),
            ("gamma", (self.gamma > 0.0) == (self.penalty != "none"),
             "0 without a penalty, > 0 with one"),
            ("generator_loss", self.generator_loss in loss.GENERATOR_LOSSES,
             f"one of {loss.GENERATOR_LOSSES}"),
            ("seed", _whole_in(self.seed, 0, 2**64 - 1), "an integer in [0, 2**64)"),
        )  # fmt: skip
        for field, valid, expected in checks:
            if not valid:
                raise ConfigError(field, getattr(self, field), expected)

    @property
    def dim(self) -> int:
        return data.get_dataset(self.dataset).dim

    def generator_spec(self) -> mlp.MLPSpec:
        sizes = (self.latent, *[self.hidden] * HIDDEN_LAYERS, self.dim)
        return mlp.MLPSpec(sizes, GENERATOR_ACTIVATION)

    def discriminator_spec(self) -> mlp.MLPSpec:
        sizes = (self.dim, *[self.hidden] * HIDDEN_LAYERS, 1)
        return mlp.MLPSpec(sizes, DISCRIMINATOR_ACTIVATION)

    def sigma_at(self, step: int) -> float:
        return noise.sigma_schedule(self.sigma0, self.anneal, self.anneal_steps, step)

    def gamma_at(self, step: int) -> float:
        """The penalty's weight at a step: gamma on sigma's schedule (Roth et al. anneal
        gamma as sigma is annealed; gamma ~ sigma^2 would anneal faster)."""
        return noise.sigma_schedule(self.gamma, self.anneal, self.anneal_steps, step)
