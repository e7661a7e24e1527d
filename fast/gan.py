"""Training a population of P independent GANs at once, float32: the reference's step with
a leading population axis.

GAN p is exactly the reference GAN of PopulationConfig.member(p) (the base configuration
with seed seeds[p] and instance-noise level noises[p]): the same initial parameters
(rounded to float32), the same Philox streams under its own key, the same substeps. A
step runs, for all P GANs together,

    discriminator substep s:  data + latent sample, G forward, noise real and fake into
        D's (P, 2B, D) input in one pass, D forward, fused loss, D backward, Adam
    generator substep:        G forward, noise, D forward, fused loss, D backward (input
        gradient only), G backward, Adam

and returns the reference's named intermediates ('d0/x_real_noisy', 'g/dW1_G', ...), each
with a leading P axis: views of buffers the step computes anyway, so returning them costs
nothing. Every buffer lives on one device; the kernels dispatch on it (see fast/device.py).

Two versions, which give identical bits on the CPU (tests/test_fast_gan.py): the readable
composition of the public kernels (discriminator_substep, generator_substep; what the GPU
runs, and GraphStep replays), and on the CPU one Numba call per step (_fused_step_cpu) that
runs each GAN's whole step on one thread, GANs in parallel. At P = 1 the composition pays
about twenty kernel launches and their Python per step; on a loaded machine every parallel
launch waits for a second core.

Shapes: keys (P, 2) uint32, sigma (P,), theta_G (P, n_params_G), theta_D (P, n_params_D).
"""

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from fast import data, device, loss, mlp, noise, optim
from reference import gan as reference_gan
from reference.noise import Stream, key_from_seed, sigma_schedule, stream_id


@dataclass(frozen=True)
class PopulationConfig:
    """P GANs sharing every setting of `base` except the seed and the noise level sigma0."""

    base: reference_gan.GANConfig
    seeds: tuple[int, ...]
    noises: tuple[float, ...]

    def __post_init__(self):
        if len(self.seeds) != len(self.noises) or not self.seeds:
            raise ValueError(
                f"need one seed and one noise level per GAN, got {len(self.seeds)} seeds "
                f"and {len(self.noises)} noise levels"
            )

    @property
    def population(self) -> int:
        return len(self.seeds)

    def member(self, p: int) -> reference_gan.GANConfig:
        """The reference configuration of GAN p."""
        return reference_gan.GANConfig(
            **{**vars(self.base), "seed": self.seeds[p], "noise": self.noises[p]}
        )

    def keys(self) -> np.ndarray:
        """(P, 2) uint32 Philox keys, one per GAN."""
        return np.stack([key_from_seed(seed) for seed in self.seeds])

    def sigma(self, step: int) -> np.ndarray:
        """(P,) float32 instance-noise std of every GAN at a step. Every schedule is sigma0
        times a factor of the step, so this is the reference's sigma_schedule per GAN."""
        base = self.base
        factor = sigma_schedule(1.0, base.anneal, base.anneal_steps, step)
        return (np.asarray(self.noises, dtype=np.float64) * factor).astype(np.float32)


@dataclass
class PopulationState:
    theta_G: object  # (P, n_params_G) float32, NumPy or CuPy
    theta_D: object  # (P, n_params_D)
    adam_G: optim.AdamState
    adam_D: optim.AdamState
    keys: object  # (P, 2) uint32
    # the fused CPU step's scratch, allocated on its first step and reused by the next ones
    workspace: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def device(self) -> str:
        return "gpu" if device.on_gpu(self.theta_G) else "cpu"


class NonFiniteLossError(reference_gan.NonFiniteLossError):
    """The reference's error, naming which GANs of the population went non-finite; `record`
    is the first of them's record (floats), `gans` all of them."""

    def __init__(self, step: int, record: dict, gans: list[int]):
        super().__init__(step, record)
        self.gans = gans
        self.args = (f"GAN {gans[0]} of the population (of {len(gans)} bad): {self.args[0]}",)


def init_state(config: PopulationConfig, device_name: str = "auto") -> PopulationState:
    """Every GAN initialised exactly as reference.gan.init_state(member), cast to float32."""
    where = device.resolve(device_name)
    members = [reference_gan.init_state(config.member(p)) for p in range(config.population)]
    theta_G = device.to_device(np.stack([m.theta_G for m in members]).astype(np.float32), where)
    theta_D = device.to_device(np.stack([m.theta_D for m in members]).astype(np.float32), where)
    keys = device.to_device(config.keys(), where)
    return PopulationState(
        theta_G, theta_D, optim.adam_init(theta_G), optim.adam_init(theta_D), keys
    )


def generate(config: PopulationConfig, theta_G, key, step: int, substep: int, n: int):
    """(z: (P, n, Z), x_fake: (P, n, D)), z from each GAN's LATENT stream of the substep."""
    z = noise.normal(key, step, stream_id(Stream.LATENT, substep), (n, config.base.latent))
    x_fake, _ = mlp.forward(config.base.generator_spec(), theta_G, z)
    return z, x_fake


def discriminator_substep(
    config: PopulationConfig, state: PopulationState, key, step: int, substep: int, sigma
) -> dict:
    base = config.base
    spec_D, batch = base.discriminator_spec(), base.batch
    x_real = data.sample(reference_gan.data.get_dataset(base.dataset), key, step, substep, batch)
    z, x_fake = generate(config, state.theta_G, key, step, substep, batch)
    x_noisy = noise.noisy_discriminator_input(
        x_real,
        x_fake,
        sigma,
        key,
        step,
        stream_id(Stream.REAL_NOISE, substep),
        stream_id(Stream.FAKE_NOISE, substep),
    )  # (P, 2B, D)
    logits, cache = mlp.forward(spec_D, state.theta_D, x_noisy)
    logit_real, logit_fake = logits[:, :batch, 0], logits[:, batch:, 0]
    loss_D, dlogit_real, dlogit_fake = loss.discriminator_loss(
        logit_real, logit_fake, base.label_smoothing, base.label_flip, key, step, substep
    )
    xp = device.array_module(logits)
    dlogits = xp.concatenate([dlogit_real, dlogit_fake], axis=1)[:, :, None]
    dtheta_D, _ = mlp.backward(spec_D, state.theta_D, cache, dlogits)
    optim.adam_step(state.theta_D, dtheta_D, state.adam_D, base.lr, base.beta1, base.beta2)
    return {
        "x_real": x_real,
        "z": z,
        "x_fake": x_fake,
        "x_real_noisy": x_noisy[:, :batch],
        "x_fake_noisy": x_noisy[:, batch:],
        "logit_real": logit_real,
        "logit_fake": logit_fake,
        "loss_D": loss_D,
        "dlogit_real": dlogit_real,
        "dlogit_fake": dlogit_fake,
        **mlp.named_parameters(spec_D, dtheta_D, prefix="d", suffix="_D"),
    }


def generator_substep(
    config: PopulationConfig, state: PopulationState, key, step: int, substep: int, sigma
) -> dict:
    base = config.base
    spec_G, spec_D = base.generator_spec(), base.discriminator_spec()
    z = noise.normal(key, step, stream_id(Stream.LATENT, substep), (base.batch, base.latent))
    x_fake, cache_G = mlp.forward(spec_G, state.theta_G, z)
    x_fake_noisy = noise.add_instance_noise(
        x_fake, sigma, key, step, stream_id(Stream.FAKE_NOISE, substep)
    )
    logits, cache_D = mlp.forward(spec_D, state.theta_D, x_fake_noisy)
    logit_fake = logits[:, :, 0]
    loss_G, dlogit_fake = loss.generator_loss(logit_fake, base.generator_loss)
    # D's weight gradients are not needed here: only its input gradient reaches G.
    _, dx_fake = mlp.backward(spec_D, state.theta_D, cache_D, dlogit_fake[:, :, None], False)
    dtheta_G, _ = mlp.backward(spec_G, state.theta_G, cache_G, dx_fake)
    optim.adam_step(state.theta_G, dtheta_G, state.adam_G, base.lr, base.beta1, base.beta2)
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


@njit(error_model="numpy")
def _gan_step_one(p, params, moments, keys, sigma, step, d_out, g_out, results, scratch, tables,
                  layout_G, layout_D, activations, streams, hyper, corrections):  # fmt: skip
    """GAN p's whole step, serially, into its rows of the step's buffers (named in
    _fused_step_cpu). Each stage is the per-GAN body of the public kernel it stands for, so
    the arithmetic is theirs, element for element."""
    theta_G, theta_D = params[0][p], params[1][p]
    m_G, v_G, m_D, v_D = moments[0][p], moments[1][p], moments[2][p], moments[3][p]
    x_real, z, x_fake, x_noisy = d_out[0][p], d_out[1][p], d_out[2][p], d_out[3][p]
    logits, dlogits, dtheta_D = d_out[4][p], d_out[5][p], d_out[6][p]
    z_g, x_fake_g, x_fake_noisy_g = g_out[0][p], g_out[1][p], g_out[2][p]
    logits_g, dlogits_g, dx_fake, dtheta_G = g_out[3][p], g_out[4][p], g_out[5][p], g_out[6][p]
    is_circle, radius, means, stds, cumulative = tables
    sizes_G, w_G, b_G, h_G = layout_G
    sizes_D, w_D, b_D, h_D2, h_D1 = layout_D
    act_G, act_D = activations
    smoothing, flip, generator_sign, lr, beta1, beta2, eps = hyper
    k0, k1, sigma_p, result = keys[p, 0], keys[p, 1], np.float64(sigma[p]), results[p]
    Z, D, S = sizes_G[0], sizes_D[0], x_real.shape[0]
    B = z_g.shape[0] // Z
    component, acts_G, acts_D = scratch[0][p], scratch[1][p], scratch[2][p]
    dx, dz = scratch[3][p].reshape(2 * B, D), scratch[4][p].reshape(B, Z)
    unused_dtheta_D, work, target_g = scratch[5][p], scratch[6][p], scratch[7][p]
    for s in range(S):
        data.sample_one(x_real[s].reshape(B, D), component, is_circle, radius, means, stds,
                        cumulative, k0, k1, step, streams[s, 0], streams[s, 1])  # fmt: skip
        noise.normal_one(z[s], k0, k1, step, streams[s, 2])
        mlp.forward_one(theta_G, z[s].reshape(B, Z), acts_G, x_fake[s].reshape(B, D), sizes_G,
                        w_G, b_G, h_G, act_G)  # fmt: skip
        # real then fake, straight into D's (2B, D) input
        noise.instance_noise_one(x_noisy[s, : B * D], x_real[s], sigma_p, k0, k1, step,
                                 streams[s, 3])  # fmt: skip
        noise.instance_noise_one(x_noisy[s, B * D :], x_fake[s], sigma_p, k0, k1, step,
                                 streams[s, 4])  # fmt: skip
        x_in = x_noisy[s].reshape(2 * B, D)
        mlp.forward_one(theta_D, x_in, acts_D, logits[s].reshape(2 * B, 1), sizes_D, w_D, b_D,
                        h_D2, act_D)  # fmt: skip
        result[s], result[S + 1], result[S + 2] = loss.discriminator_loss_one(
            logits[s], dlogits[s], smoothing, flip, k0, k1, step, streams[s, 5]
        )
        mlp.backward_one(theta_D, x_in, acts_D, dlogits[s].reshape(2 * B, 1), dtheta_D[s], dx,
                         sizes_D, w_D, b_D, h_D2, act_D, True, work)  # fmt: skip
        optim.adam_one(theta_D, dtheta_D[s], m_D, v_D, lr, beta1, beta2, eps, corrections[s, 0],
                       corrections[s, 1])  # fmt: skip
    noise.normal_one(z_g, k0, k1, step, streams[S, 2])
    mlp.forward_one(theta_G, z_g.reshape(B, Z), acts_G, x_fake_g.reshape(B, D), sizes_G, w_G,
                    b_G, h_G, act_G)  # fmt: skip
    noise.instance_noise_one(x_fake_noisy_g, x_fake_g, sigma_p, k0, k1, step, streams[S, 4])
    x_in = x_fake_noisy_g.reshape(B, D)
    mlp.forward_one(theta_D, x_in, acts_D, logits_g.reshape(B, 1), sizes_D, w_D, b_D, h_D1,
                    act_D)  # fmt: skip
    result[S] = loss.logistic_one(logits_g, target_g, dlogits_g, generator_sign)
    # D's weight gradients are not needed here: only its input gradient reaches G.
    mlp.backward_one(theta_D, x_in, acts_D, dlogits_g.reshape(B, 1), unused_dtheta_D,
                     dx_fake.reshape(B, D), sizes_D, w_D, b_D, h_D1, act_D, False,
                     work)  # fmt: skip
    mlp.backward_one(theta_G, z_g.reshape(B, Z), acts_G, dx_fake.reshape(B, D), dtheta_G, dz,
                     sizes_G, w_G, b_G, h_G, act_G, True, work)  # fmt: skip
    optim.adam_one(theta_G, dtheta_G, m_G, v_G, lr, beta1, beta2, eps, corrections[S, 0],
                   corrections[S, 1])  # fmt: skip


@njit(cache=True, error_model="numpy")
def _fused_step_serial(params, moments, keys, sigma, step, d_out, g_out, results, scratch, tables,
                       layout_G, layout_D, activations, streams, hyper, corrections):  # fmt: skip
    """The GANs one after another on this thread: no parallel region to start, which at
    P = 1 would cost more than it saves."""
    for p in range(keys.shape[0]):
        _gan_step_one(p, params, moments, keys, sigma, step, d_out, g_out, results, scratch,
                      tables, layout_G, layout_D, activations, streams, hyper,
                      corrections)  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def _fused_step_parallel(params, moments, keys, sigma, step, d_out, g_out, results, scratch,
                         tables, layout_G, layout_D, activations, streams, hyper,
                         corrections):  # fmt: skip
    """One GAN per thread (BLAS then runs single-threaded inside each)."""
    for p in prange(keys.shape[0]):
        _gan_step_one(p, params, moments, keys, sigma, step, d_out, g_out, results, scratch,
                      tables, layout_G, layout_D, activations, streams, hyper,
                      corrections)  # fmt: skip


@functools.cache
def _fused_tables(base: reference_gan.GANConfig) -> tuple:
    """What the fused step reads that depends only on the configuration, built once per
    configuration: ((spec_G, spec_D, D), tables, layout_G, layout_D, activations, streams,
    hyper)."""
    B, S = base.batch, base.d_steps
    spec_G, spec_D = base.generator_spec(), base.discriminator_spec()
    return (
        (spec_G, spec_D, base.dim),
        data.sampler_tables(reference_gan.data.get_dataset(base.dataset)),
        mlp.layout(spec_G, B),
        (*mlp.layout(spec_D, 2 * B), mlp.layout(spec_D, B)[3]),  # h offsets for 2B and B rows
        (mlp.activation_code(spec_G), mlp.activation_code(spec_D)),
        # streams[s, kind]: the counter's stream word of each Stream kind in substep s
        np.array([[stream_id(kind, s) for kind in Stream] for s in range(S + 1)], np.int64),
        (
            base.label_smoothing,
            base.label_flip,
            loss.generator_sign(base.generator_loss),
            base.lr,
            base.beta1,
            base.beta2,
            1e-8,
        ),
    )


def _scratch(config: PopulationConfig, state: PopulationState) -> tuple:
    """The fused step's per-GAN scratch, made on the state's first step and reused: fresh
    buffers of this size cost page faults every step (a quarter of the step at P = 1).
    (component (P, B) int64, acts_G, acts_D, dx, dz, unused dtheta_D, backward work,
    target_G (P, B)); the last is the generator loss's constant target."""
    base, P = config.base, config.population
    if base not in state.workspace:
        (spec_G, spec_D, D), _, layout_G, layout_D, _, _, hyper = _fused_tables(base)
        B, Z = base.batch, base.latent

        def buffer(n):
            return np.empty((P, n), dtype=np.float32)

        work = max(mlp.backward_work(spec_G.sizes, B), mlp.backward_work(spec_D.sizes, 2 * B))
        target = np.full((P, B), 1.0 if hyper[2] > 0 else 0.0, dtype=np.float32)
        state.workspace[base] = (
            np.empty((P, B), dtype=np.int64), buffer(layout_G[3][-1]), buffer(layout_D[3][-1]),
            buffer(2 * B * D), buffer(B * Z), buffer(spec_D.n_params), buffer(work), target,
        )  # fmt: skip
    return state.workspace[base]


class LazyViews(Mapping):
    """The fused CPU step's named intermediates, each formed from the step's buffers on
    first access: the same arrays as the composed step's, but a training loop that reads
    none of them (train) does not pay for ~50 views a step (3% of a P = 1 step)."""

    def __init__(self, makers: dict, buffers: tuple):
        self._makers, self._buffers, self._made = makers, buffers, {}

    def __getitem__(self, name: str):
        if name not in self._made:
            self._made[name] = self._makers[name](self._buffers)
        return self._made[name]

    def __iter__(self):
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


@functools.cache
def _intermediate_views(base: reference_gan.GANConfig) -> dict:
    """name -> the function of _fused_step_cpu's buffers that gives that intermediate,
    (P, ...) like the composed step's ('d0/x_real', ..., 'g/dW1_G'), in its order."""
    B, Z, D, S = base.batch, base.latent, base.dim, base.d_steps
    spec_G, spec_D = base.generator_spec(), base.discriminator_spec()

    def parameter(spec, index, s, name, suffix):
        def view(b):
            grads = b[index] if s is None else b[index][:, s]
            return mlp.named_parameters(spec, grads, prefix="d", suffix=suffix)[name]

        return view

    def names(spec, suffix):
        return mlp.named_parameters(spec, np.empty((1, spec.n_params)), "d", suffix)

    makers = {}
    for s in range(S):
        makers |= {
            f"d{s}/x_real": lambda b, s=s: b[0][:, s].reshape(-1, B, D),
            f"d{s}/z": lambda b, s=s: b[1][:, s].reshape(-1, B, Z),
            f"d{s}/x_fake": lambda b, s=s: b[2][:, s].reshape(-1, B, D),
            f"d{s}/x_real_noisy": lambda b, s=s: b[3][:, s, : B * D].reshape(-1, B, D),
            f"d{s}/x_fake_noisy": lambda b, s=s: b[3][:, s, B * D :].reshape(-1, B, D),
            f"d{s}/logit_real": lambda b, s=s: b[4][:, s, :B],
            f"d{s}/logit_fake": lambda b, s=s: b[4][:, s, B:],
            f"d{s}/loss_D": lambda b, s=s: b[14][:, s].astype(np.float32),
            f"d{s}/dlogit_real": lambda b, s=s: b[5][:, s, :B],
            f"d{s}/dlogit_fake": lambda b, s=s: b[5][:, s, B:],
        }
        for name in names(spec_D, "_D"):
            makers[f"d{s}/{name}"] = parameter(spec_D, 6, s, name, "_D")
    makers |= {
        "g/z": lambda b: b[7].reshape(-1, B, Z),
        "g/x_fake": lambda b: b[8].reshape(-1, B, D),
        "g/x_fake_noisy": lambda b: b[9].reshape(-1, B, D),
        "g/logit_fake": lambda b: b[10],
        "g/loss_G": lambda b: b[14][:, S].astype(np.float32),
        "g/dlogit_fake": lambda b: b[11],
        "g/dx_fake": lambda b: b[12].reshape(-1, B, D),
    }
    for name in names(spec_G, "_G"):
        makers[f"g/{name}"] = parameter(spec_G, 13, None, name, "_G")
    return makers


def step_corrections(base: reference_gan.GANConfig, state: PopulationState) -> np.ndarray:
    """(d_steps + 1, 2) float64: the Adam bias corrections of a step's updates, the
    discriminator substeps' then the generator's, for the step the state is about to take."""
    return np.array(
        [optim.bias_corrections(base.beta1, base.beta2, state.adam_D.t + s + 1)
         for s in range(base.d_steps)]
        + [optim.bias_corrections(base.beta1, base.beta2, state.adam_G.t + 1)]
    )  # fmt: skip


def _fused_step_cpu(config: PopulationConfig, state: PopulationState, step: int, sigma):
    """train_step on the CPU as one Numba call for the whole population: every stage of
    every substep of GAN p runs on one thread, GANs in parallel. Returns what train_step
    returns; the intermediates are views of the buffers allocated here."""
    base, P, S = config.base, config.population, config.base.d_steps
    (spec_G, spec_D, D), tables, layout_G, layout_D, activations, streams, hyper = _fused_tables(
        base
    )
    B, Z = base.batch, base.latent

    def buffer(*shape):
        return np.empty((P, *shape), dtype=np.float32)

    x_real, z, x_fake = buffer(S, B * D), buffer(S, B * Z), buffer(S, B * D)
    x_noisy, logits, dlogits = buffer(S, 2 * B * D), buffer(S, 2 * B), buffer(S, 2 * B)
    dtheta_D = buffer(S, spec_D.n_params)
    z_g, x_fake_g, x_fake_noisy_g = buffer(B * Z), buffer(B * D), buffer(B * D)
    logits_g, dlogits_g, dx_fake = buffer(B), buffer(B), buffer(B * D)
    dtheta_G = buffer(spec_G.n_params)
    results = np.empty((P, S + 3))  # loss_D per substep, loss_G, D_real, D_fake (float64)
    corrections = step_corrections(base, state)
    device.single_threaded_blas()
    kernel = _fused_step_parallel if P > 1 else _fused_step_serial
    kernel(
        (state.theta_G, state.theta_D),
        (state.adam_G.m, state.adam_G.v, state.adam_D.m, state.adam_D.v),
        state.keys,
        np.asarray(sigma, np.float32),
        step,
        (x_real, z, x_fake, x_noisy, logits, dlogits, dtheta_D),
        (z_g, x_fake_g, x_fake_noisy_g, logits_g, dlogits_g, dx_fake, dtheta_G),
        results,
        _scratch(config, state),
        tables,
        layout_G,
        layout_D,
        activations,
        streams,
        hyper,
        corrections,
    )
    state.adam_D.t += S
    state.adam_G.t += 1
    buffers = (x_real, z, x_fake, x_noisy, logits, dlogits, dtheta_D, z_g, x_fake_g,
               x_fake_noisy_g, logits_g, dlogits_g, dx_fake, dtheta_G, results)  # fmt: skip
    intermediates = LazyViews(_intermediate_views(base), buffers)
    record = {
        "step": step,
        "sigma": np.asarray(sigma, np.float32),
        "loss_D": results[:, S - 1].astype(np.float32),
        "loss_G": results[:, S].astype(np.float32),
        "D_real": results[:, S + 1].astype(np.float32),
        "D_fake": results[:, S + 2].astype(np.float32),
    }
    return record, intermediates


def train_step(config: PopulationConfig, state: PopulationState, step: int) -> tuple[dict, dict]:
    """One step of all P GANs, updating state in place. Returns (record, intermediates)
    with the reference's keys; record values are (P,) arrays on the state's device, and the
    intermediates a mapping of (P, ...) arrays (on the CPU a LazyViews of the step's
    buffers)."""
    sigma = config.sigma(step)
    if state.device == "cpu":
        return _fused_step_cpu(config, state, step, sigma)
    sigma = device.to_device(sigma, "gpu")
    intermediates = {}
    for substep in range(config.base.d_steps):
        d_out = discriminator_substep(config, state, state.keys, step, substep, sigma)
        intermediates.update({f"d{substep}/{name}": value for name, value in d_out.items()})
    g_out = generator_substep(config, state, state.keys, step, config.base.d_steps, sigma)
    intermediates.update({f"g/{name}": value for name, value in g_out.items()})
    xp = device.array_module(state.theta_G)
    # sigmoid as 0.5 (1 + tanh(l / 2)): no overflow for any logit
    record = {
        "step": step,
        "sigma": sigma,
        "loss_D": d_out["loss_D"],
        "loss_G": g_out["loss_G"],
        "D_real": xp.mean(0.5 + 0.5 * xp.tanh(0.5 * d_out["logit_real"]), axis=1),
        "D_fake": xp.mean(0.5 + 0.5 * xp.tanh(0.5 * d_out["logit_fake"]), axis=1),
    }
    return record, intermediates


def train(config: PopulationConfig, state: PopulationState) -> Iterator[dict]:
    """Run config.base.steps steps on state in place, yielding each step's record (host
    (P,) arrays). Raises NonFiniteLossError at the first step where any GAN's loss is not
    finite, before yielding it. On the GPU the steps are GraphStep's: one CUDA graph
    replayed per step (the same arithmetic as train_step, launched at once)."""
    if state.device == "gpu":
        step_function = GraphStep(config, state)
    else:
        step_function = functools.partial(train_step, config, state)
    for step in range(config.base.steps):
        record, _ = step_function(step)
        record = {
            name: value if name == "step" else device.to_host(value)
            for name, value in record.items()
        }
        finite = np.isfinite(record["loss_D"]) & np.isfinite(record["loss_G"])
        if not finite.all():
            gans = [int(p) for p in np.flatnonzero(~finite)]
            member_record = {
                name: value if name == "step" else float(value[gans[0]])
                for name, value in record.items()
            }
            raise NonFiniteLossError(step, member_record, gans)
        yield record


class GraphStep:
    """train_step on the GPU with every buffer allocated once and, from the second call on,
    the whole step replayed as one captured CUDA graph.

    At P = 1 a step is ~40 small kernels and ~30 small GEMMs, so launching them one by one
    from Python costs more than running them; a graph launches them all in one call. For a
    graph to be replayable, nothing in it may change between steps except device memory:
    the step word the Philox kernels read and Adam's bias corrections live in one small
    control buffer rewritten by a single host-to-device copy before each launch (sigma in
    its own, rewritten only when the schedule changes it). The first call runs the step
    eagerly, which also compiles the kernels and initialises cuBLAS outside the capture,
    then captures the next; if capture fails (an old driver, a cuBLAS that allocates
    during capture), the reason is printed and the eager path is used from then on.

    Calling it returns (record, intermediates) like train_step, as views of the buffers:
    they are overwritten by the next call, so copy what must outlive it. The state's
    arrays are updated in place (the graph holds their addresses).
    """

    def __init__(self, config: PopulationConfig, state: PopulationState, use_graph: bool = True):
        import cupy

        base, P = config.base, config.population
        B, Z, H, D = base.batch, base.latent, base.hidden, base.dim
        self.config, self.state, self.P = config, state, P
        self.spec_G, self.spec_D = base.generator_spec(), base.discriminator_spec()
        self.dataset = reference_gan.data.get_dataset(base.dataset)
        self.use_graph, self.graph, self.sigma_host = use_graph, None, None

        def zeros(*shape, dtype=np.float32):
            return cupy.zeros(shape, dtype=dtype)

        # control: word 0 the step; from word 2 on, (d_steps + 1) pairs of float64 bias
        # corrections, the D updates' then the G update's
        n_updates = base.d_steps + 1
        self.control_host = np.zeros(2 + 4 * n_updates, dtype=np.uint32)
        self.control = cupy.asarray(self.control_host)
        self.step_word = self.control[:1]
        self.corrections = self.control[2:].view(np.float64).reshape(n_updates, 2)
        self.sigma = zeros(P)
        width = max(H, 1)
        self.d_buffers = [
            {
                "x_real": zeros(P, B, D),
                "z": zeros(P, B, Z),
                "hidden_G": [zeros(P, B, n) for n in self.spec_G.sizes[1:-1]],
                "x_fake": zeros(P, B, D),
                "x_noisy": zeros(P, 2 * B, D),
                "hidden_D": [zeros(P, 2 * B, n) for n in self.spec_D.sizes[1:-1]],
                "logits": zeros(P, 2 * B, 1),
                "dlogits": zeros(P, 2 * B, 1),
                "loss_D": zeros(P),
                "D_real": zeros(P),
                "D_fake": zeros(P),
                "dtheta_D": cupy.zeros_like(state.theta_D),
                "dx": zeros(P, 2 * B, D),
            }
            for _ in range(base.d_steps)
        ]
        self.g_buffers = {
            "z": zeros(P, B, Z),
            "hidden_G": [zeros(P, B, n) for n in self.spec_G.sizes[1:-1]],
            "x_fake": zeros(P, B, D),
            "x_fake_noisy": zeros(P, B, D),
            "hidden_D": [zeros(P, B, n) for n in self.spec_D.sizes[1:-1]],
            "logits": zeros(P, B, 1),
            "dlogits": zeros(P, B, 1),
            "loss_G": zeros(P),
            "dx_fake": zeros(P, B, D),
            "dtheta_G": cupy.zeros_like(state.theta_G),
            "dz": zeros(P, B, Z),
        }
        self.scratch = [zeros(P * 2 * B * width) for _ in range(2)]
        # A blocking stream: ordered with the default stream that the state's other users
        # (and the host copies of records) run on, yet capturable.
        self.stream = cupy.cuda.Stream(non_blocking=False)
        # Views of buffers that live as long as self: built once, not per step (at P = 1
        # forming ~50 views would cost more than the step itself).
        self.record, self.intermediates = self._record(), self._intermediates()

    def _launch_all(self) -> None:
        """Every kernel and GEMM of one step, in order, reading the step from the control
        buffer; nothing here allocates, so it can be captured."""
        base, state, spec_G, spec_D = self.config.base, self.state, self.spec_G, self.spec_D
        key, step = state.keys, self.step_word
        adam = (base.lr, base.beta1, base.beta2, 1e-8)
        for substep, buf in enumerate(self.d_buffers):
            data.sample_into_gpu(buf["x_real"], self.dataset, key, step, substep)
            noise.normal_into_gpu(buf["z"], key, step, stream_id(Stream.LATENT, substep))
            mlp.forward_into_gpu(spec_G, state.theta_G, buf["z"], buf["hidden_G"], buf["x_fake"])
            noise.noisy_discriminator_input_into_gpu(
                buf["x_noisy"],
                buf["x_real"],
                buf["x_fake"],
                self.sigma,
                key,
                step,
                stream_id(Stream.REAL_NOISE, substep),
                stream_id(Stream.FAKE_NOISE, substep),
            )
            mlp.forward_into_gpu(
                spec_D, state.theta_D, buf["x_noisy"], buf["hidden_D"], buf["logits"]
            )
            loss.discriminator_loss_into_gpu(
                buf["loss_D"],
                buf["dlogits"],
                buf["D_real"],
                buf["D_fake"],
                buf["logits"],
                base.label_smoothing,
                base.label_flip,
                key,
                step,
                stream_id(Stream.LABEL_FLIP, substep),
            )
            mlp.backward_into_gpu(
                spec_D,
                state.theta_D,
                [buf["x_noisy"], *buf["hidden_D"]],
                buf["dlogits"],
                buf["dtheta_D"],
                buf["dx"],
                self.scratch,
            )
            optim.adam_step_into_gpu(
                state.theta_D,
                buf["dtheta_D"],
                state.adam_D.m,
                state.adam_D.v,
                *adam,
                self.corrections[substep],
            )
        buf, substep = self.g_buffers, base.d_steps
        noise.normal_into_gpu(buf["z"], key, step, stream_id(Stream.LATENT, substep))
        mlp.forward_into_gpu(spec_G, state.theta_G, buf["z"], buf["hidden_G"], buf["x_fake"])
        noise.add_instance_noise_into_gpu(
            buf["x_fake_noisy"],
            buf["x_fake"],
            self.sigma,
            key,
            step,
            stream_id(Stream.FAKE_NOISE, substep),
        )
        mlp.forward_into_gpu(
            spec_D, state.theta_D, buf["x_fake_noisy"], buf["hidden_D"], buf["logits"]
        )
        loss.generator_loss_into_gpu(
            buf["loss_G"], buf["dlogits"], buf["logits"][:, :, 0], base.generator_loss
        )
        mlp.backward_into_gpu(
            spec_D,
            state.theta_D,
            [buf["x_fake_noisy"], *buf["hidden_D"]],
            buf["dlogits"],
            None,
            buf["dx_fake"],
            self.scratch,
        )
        mlp.backward_into_gpu(
            spec_G,
            state.theta_G,
            [buf["z"], *buf["hidden_G"]],
            buf["dx_fake"],
            buf["dtheta_G"],
            buf["dz"],
            self.scratch,
        )
        optim.adam_step_into_gpu(
            state.theta_G,
            buf["dtheta_G"],
            state.adam_G.m,
            state.adam_G.v,
            *adam,
            self.corrections[substep],
        )

    def _capture(self) -> None:
        import cupy

        try:
            with self.stream:
                self.stream.begin_capture()
                try:
                    self._launch_all()
                finally:
                    graph = self.stream.end_capture()
            self.graph = graph
        except Exception as error:  # whatever broke the capture, the eager path still works
            print(f"CUDA graph capture failed, running the step eagerly: {error!r}")
            self.use_graph = False
            self.stream = cupy.cuda.Stream(non_blocking=False)

    def _write_control(self, step: int) -> None:
        base, state = self.config.base, self.state
        self.control_host[0] = step
        self.control_host[2:].view(np.float64).reshape(-1, 2)[:] = step_corrections(base, state)
        self.control.set(self.control_host, stream=self.stream)
        sigma = self.config.sigma(step)
        if self.sigma_host is None or not np.array_equal(sigma, self.sigma_host):
            self.sigma.set(sigma, stream=self.stream)
            self.sigma_host = sigma

    def __call__(self, step: int) -> tuple[dict, dict]:
        self._write_control(step)
        if self.graph is not None:
            self.graph.launch(self.stream)
        else:
            with self.stream:
                self._launch_all()
            if self.use_graph:
                self._capture()
        self.state.adam_D.t += self.config.base.d_steps
        self.state.adam_G.t += 1
        return {"step": step, **self.record}, self.intermediates

    def _record(self) -> dict:
        last, g = self.d_buffers[-1], self.g_buffers
        return {
            "sigma": self.sigma,
            "loss_D": last["loss_D"],
            "loss_G": g["loss_G"],
            "D_real": last["D_real"],
            "D_fake": last["D_fake"],
        }

    def _intermediates(self) -> dict:
        B = self.config.base.batch
        out = {}
        for substep, buf in enumerate(self.d_buffers):
            named = {
                "x_real": buf["x_real"],
                "z": buf["z"],
                "x_fake": buf["x_fake"],
                "x_real_noisy": buf["x_noisy"][:, :B],
                "x_fake_noisy": buf["x_noisy"][:, B:],
                "logit_real": buf["logits"][:, :B, 0],
                "logit_fake": buf["logits"][:, B:, 0],
                "loss_D": buf["loss_D"],
                "dlogit_real": buf["dlogits"][:, :B, 0],
                "dlogit_fake": buf["dlogits"][:, B:, 0],
                **mlp.named_parameters(self.spec_D, buf["dtheta_D"], prefix="d", suffix="_D"),
            }
            out.update({f"d{substep}/{name}": value for name, value in named.items()})
        g = self.g_buffers
        named = {
            "z": g["z"],
            "x_fake": g["x_fake"],
            "x_fake_noisy": g["x_fake_noisy"],
            "logit_fake": g["logits"][:, :, 0],
            "loss_G": g["loss_G"],
            "dlogit_fake": g["dlogits"][:, :, 0],
            "dx_fake": g["dx_fake"],
            **mlp.named_parameters(self.spec_G, g["dtheta_G"], prefix="d", suffix="_G"),
        }
        out.update({f"g/{name}": value for name, value in named.items()})
        return out
