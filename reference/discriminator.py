"""Fit a discriminator to two fixed distributions: the GAN's discriminator substep with the
generator frozen, so the trained logit can be held against the analytic log p_sigma - log q_sigma.

Each step draws a fresh batch of B samples from p ('real') and B from q ('fake') with
instance noise of std sigma on both, exactly as reference/gan.py does, and takes an Adam
step on the reference logistic loss (mean over the 2B samples, optional label flipping):

    x_real~ = sample(p) + sigma * eps   (B, dim)   data streams of substep 0, REAL_NOISE
    x_fake~ = sample(q) + sigma * eps   (B, dim)   data streams of substep 1, FAKE_NOISE
    lr_t    = lr * (1 - t / steps)

The learning rate decays linearly to 0 so that the last iterates average the gradient noise:
the final error then keeps shrinking as batch * steps grows, instead of stalling at the noise
floor of a constant-rate Adam.

Shapes: x (N, dim); the network is an MLP (dim, H, H, 1) with leaky ReLU, as the GAN's D.
Contract: plain NumPy, float64.
"""

from dataclasses import dataclass

import numpy as np

from reference import data, loss, mlp, noise, optim, theory
from reference.config import DISCRIMINATOR_ACTIVATION
from reference.philox import Stream, SubstepRandom, key_from_seed

BETA1, BETA2 = 0.9, 0.999  # the usual Adam moments: nothing here is adversarial


@dataclass
class FittedDiscriminator:
    spec: mlp.MLPSpec
    theta: np.ndarray  # (n_params,)
    losses: np.ndarray  # (steps,) the training loss of every step's batch

    def logit(self, x: np.ndarray) -> np.ndarray:
        """x: (N, dim) -> (N,)."""
        return mlp.forward(self.spec, self.theta, x)[0][:, 0]

    def input_gradient(self, x: np.ndarray) -> np.ndarray:
        """x: (N, dim) -> d logit / dx: (N, dim), the direction D would push a sample at x."""
        y, cache = mlp.forward(self.spec, self.theta, x)
        return mlp.backward(self.spec, self.theta, cache, np.ones_like(y))[1]


def fit(
    p: data.Mixture,
    q: data.Mixture,
    sigma: float,
    steps: int,
    batch: int,
    hidden: int,
    lr: float,
    init_seed: int,
    data_seed: int,
    label_flip: float = 0.0,
) -> FittedDiscriminator:
    """Train a fresh discriminator, initialised from init_seed, on batches drawn from
    data_seed's Philox streams (so two fits can differ in their initialisation only)."""
    spec = mlp.MLPSpec((p.dim, hidden, hidden, 1), DISCRIMINATOR_ACTIVATION)
    theta = mlp.init_params(spec, np.random.default_rng(init_seed))
    adam = optim.adam_init(theta)
    key = key_from_seed(data_seed)
    losses = np.empty(steps)
    for step in range(steps):
        rng_real, rng_fake = SubstepRandom(key, step, 0), SubstepRandom(key, step, 1)
        x_real = theory.sample_noisy(p, sigma, rng_real, Stream.REAL_NOISE, batch)
        x_fake = theory.sample_noisy(q, sigma, rng_fake, Stream.FAKE_NOISE, batch)
        logits, cache = mlp.forward(spec, theta, np.concatenate([x_real, x_fake]))
        targets = noise.label_noise_targets(batch, 1.0, label_flip, rng_real)
        losses[step], dlogit_real, dlogit_fake = loss.discriminator_loss(
            logits[:batch, 0], logits[batch:, 0], *targets
        )
        dtheta, _ = mlp.backward(
            spec, theta, cache, np.concatenate([dlogit_real, dlogit_fake])[:, None]
        )
        optim.adam_step(theta, dtheta, adam, lr * (1.0 - step / steps), BETA1, BETA2)
    return FittedDiscriminator(spec, theta, losses)
