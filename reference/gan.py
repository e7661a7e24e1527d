"""One GAN training step with instance noise, and the training loop. Start reading here.

A step at index `step` with sigma = sigma_schedule(step) runs d_steps discriminator
substeps s = 0 .. d_steps - 1, then one generator substep s = d_steps. Each substep draws
its random numbers from its own Philox streams (rng = SubstepRandom(key, step, s)):

    discriminator substep s:
        x_real       = sample(data)                          (B, dim)   DATA_* streams
        z            = N(0, I)                               (B, Z)     LATENT
        x_fake       = G(z)                                  (B, dim)   (no gradient to G)
        x_real_noisy = x_real + sigma * eps_real             (B, dim)   REAL_NOISE
        x_fake_noisy = x_fake + sigma * eps_fake             (B, dim)   FAKE_NOISE
        logit_real, logit_fake = D(x_real_noisy), D(x_fake_noisy)       (B,) each
        targets      = 1 real, 0 fake, after label noise     (B,) each  LABEL_FLIP
        loss_D       = logistic regression on the targets, mean over 2B
                       (+ a gradient penalty on D, if chosen: reference/penalty.py)
        Adam step on theta_D
    generator substep:
        z, x_fake, x_fake_noisy as above (fresh noise: the fake samples pass through the
        same instance noise before D, otherwise D and G would see different distributions)
        loss_G       = generator loss of D(x_fake_noisy)
        Adam step on theta_G through D's input gradient

Real and fake samples are noised alike: that is what makes instance noise different from
label noise. D runs on the 2B noisy samples in one batch.

`train_step` returns the step's named intermediates (prefixed 'd{s}/' per discriminator
substep and 'g/' for the generator substep): the inputs, noisy inputs, logits, losses and
every gradient, so tests and the fast path can be compared tensor by tensor.

Contract: plain NumPy, float64. The configuration, GANConfig, is reference/config.py's:
it checks every field when it is made, and ConfigError names the field and the value.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from reference import data, loss, mlp, noise, optim, penalty
from reference.config import GANConfig
from reference.philox import Stream, SubstepRandom, key_from_seed


@dataclass
class GANState:
    theta_G: np.ndarray  # (n_params_G,)
    theta_D: np.ndarray  # (n_params_D,)
    adam_G: optim.AdamState
    adam_D: optim.AdamState


def discriminator_substep(
    config: GANConfig, state: GANState, rng: SubstepRandom, sigma: float, gamma: float
) -> dict:
    spec_D, batch = config.discriminator_spec(), config.batch
    x_real = data.sample(data.get_dataset(config.dataset), rng, batch)
    z, x_fake = generate(config, state.theta_G, rng, batch)
    # Instance noise: the same N(0, sigma^2 I) on real and fake samples, before D sees them.
    x_real_noisy = noise.add_instance_noise(x_real, sigma, rng, Stream.REAL_NOISE)
    x_fake_noisy = noise.add_instance_noise(x_fake, sigma, rng, Stream.FAKE_NOISE)
    logits, cache = mlp.forward(spec_D, state.theta_D, np.concatenate([x_real_noisy, x_fake_noisy]))
    logit_real, logit_fake = logits[:batch, 0], logits[batch:, 0]
    target_real, target_fake = noise.label_noise_targets(
        batch, config.real_target, config.label_flip, rng
    )
    loss_D, dlogit_real, dlogit_fake = loss.discriminator_loss(
        logit_real, logit_fake, target_real, target_fake
    )
    dlogits = np.concatenate([dlogit_real, dlogit_fake])[:, None]
    # D's gradient of loss_D plus the penalty, if chosen (its value, and its gradient
    # through D's output and through the input gradients: reference/penalty.py)
    loss_D, dtheta_D, dlogits, penalty_D = penalty.penalised_backward(
        spec_D, state.theta_D, cache, logits[:, 0], loss_D, dlogits, batch, config.penalty, gamma
    )
    optim.adam_step(state.theta_D, dtheta_D, state.adam_D, config.lr, config.beta1, config.beta2)
    return {
        "x_real": x_real,
        "z": z,
        "x_fake": x_fake,
        "x_real_noisy": x_real_noisy,
        "x_fake_noisy": x_fake_noisy,
        "logit_real": logit_real,
        "logit_fake": logit_fake,
        **({} if penalty_D is None else {"penalty_D": penalty_D}),
        "loss_D": loss_D,
        "dlogit_real": dlogits[:batch, 0],
        "dlogit_fake": dlogits[batch:, 0],
        **mlp.named_parameters(spec_D, dtheta_D, prefix="d", suffix="_D"),
    }


def generator_substep(config: GANConfig, state: GANState, rng: SubstepRandom, sigma: float) -> dict:
    spec_G, spec_D = config.generator_spec(), config.discriminator_spec()
    z = rng.normal(Stream.LATENT, (config.batch, config.latent))
    x_fake, cache_G = mlp.forward(spec_G, state.theta_G, z)
    x_fake_noisy = noise.add_instance_noise(x_fake, sigma, rng, Stream.FAKE_NOISE)
    logits, cache_D = mlp.forward(spec_D, state.theta_D, x_fake_noisy)
    logit_fake = logits[:, 0]
    loss_G, dlogit_fake = loss.generator_loss(logit_fake, config.generator_loss)
    # The noise is additive, so dL/dx_fake = dL/dx_fake_noisy: D's input gradient.
    _, dx_fake = mlp.backward(spec_D, state.theta_D, cache_D, dlogit_fake[:, None])
    dtheta_G, _ = mlp.backward(spec_G, state.theta_G, cache_G, dx_fake)
    optim.adam_step(state.theta_G, dtheta_G, state.adam_G, config.lr, config.beta1, config.beta2)
    return {
        "z": z,
        "x_fake": x_fake,
        "x_fake_noisy": x_fake_noisy,
        "logit_fake": logit_fake,
        "loss_G": loss_G,
        "dlogit_fake": dlogit_fake,
        "dx_fake": dx_fake,
        **mlp.named_parameters(spec_G, dtheta_G, prefix="d", suffix="_G"),
    }


def generate(
    config: GANConfig, theta_G: np.ndarray, rng: SubstepRandom, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(z: (n, Z), x_fake: (n, dim)) with z from the substep's LATENT stream."""
    z = rng.normal(Stream.LATENT, (n, config.latent))
    x_fake, _ = mlp.forward(config.generator_spec(), theta_G, z)
    return z, x_fake


def train_step(config: GANConfig, state: GANState, step: int) -> tuple[dict, dict]:
    """One step, updating state in place. Returns (record, intermediates): the record holds
    step, sigma, loss_D (last discriminator substep), loss_G, D_real and D_fake (the mean
    discriminator outputs on the noisy real and fake samples of that substep)."""
    key, sigma, gamma = key_from_seed(config.seed), config.sigma_at(step), config.gamma_at(step)
    intermediates = {}
    for substep in range(config.d_steps):
        rng = SubstepRandom(key, step, substep)
        d_out = discriminator_substep(config, state, rng, sigma, gamma)
        intermediates.update({f"d{substep}/{name}": value for name, value in d_out.items()})
    g_out = generator_substep(config, state, SubstepRandom(key, step, config.d_steps), sigma)
    intermediates.update({f"g/{name}": value for name, value in g_out.items()})
    record = {
        "step": step,
        "sigma": sigma,
        "loss_D": d_out["loss_D"],
        "loss_G": g_out["loss_G"],
        "D_real": float(np.mean(loss.sigmoid(d_out["logit_real"]))),
        "D_fake": float(np.mean(loss.sigmoid(d_out["logit_fake"]))),
    }
    return record, intermediates


def init_state(config: GANConfig) -> GANState:
    """Both networks initialised from one NumPy generator seeded with config.seed, G first."""
    rng = np.random.default_rng(config.seed)
    theta_G = mlp.init_params(config.generator_spec(), rng)
    theta_D = mlp.init_params(config.discriminator_spec(), rng)
    return GANState(theta_G, theta_D, optim.adam_init(theta_G), optim.adam_init(theta_D))


def train(config: GANConfig, state: GANState, start: int = 0) -> Iterator[dict]:
    """Run steps start .. config.steps - 1 on state in place, yielding each step's record
    (start > 0 continues a run from a checkpoint of that step). Raises NonFiniteLossError
    at the first step whose loss is not finite, before yielding it."""
    for step in range(start, config.steps):
        record, _ = train_step(config, state, step)
        if not (np.isfinite(record["loss_D"]) and np.isfinite(record["loss_G"])):
            raise NonFiniteLossError(step, record)
        yield record


class NonFiniteLossError(FloatingPointError):
    def __init__(self, step: int, record: dict):
        super().__init__(
            f"non-finite loss at step {step}: loss_D={record['loss_D']}, loss_G={record['loss_G']}"
        )
        self.step = step
        self.record = record
