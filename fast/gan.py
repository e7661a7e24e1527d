"""Training a population of P independent GANs at once, float32: reference/gan.py's step
with a leading population axis.

GAN p is exactly the reference GAN of PopulationConfig.member(p) (its own GANConfig, which
may differ from the others' in the PER_GAN fields: seed, sigma0, schedule, label noise,
penalty): the same initial parameters (rounded to float32), the same Philox streams under
its own key, the same substeps. A step runs, for all P GANs together,

    discriminator substep s:  data + latent sample, G forward, noise real and fake into
        D's (P, 2B, dim) input in one pass, D forward, fused loss with label noise,
        D backward (with a gradient penalty, fast/penalty.py's, where a GAN has one:
        CPU only), Adam
    generator substep:        G forward, noise, D forward, fused loss, D backward (input
        gradient only), G backward, Adam

and returns the reference's named intermediates ('d0/x_real_noisy', 'g/dW1_G', ...), each
with a leading P axis. Every buffer lives on one device; the kernels dispatch on it (see
fast/device.py).

The step is written once per path, and `composed_step` here is the readable one: the
substeps as compositions of the public kernels, on NumPy or CuPy arrays alike. It is what
train_step runs on the GPU, and the oracle of the two faster versions: fast/fused_step_cpu.py
(the same bits in one Numba call; what train_step runs on the CPU) and
fast/graph_step_gpu.py (the same kernels captured as one CUDA graph; what train runs on a
GPU). Each version hands over its substeps' tensors as DiscriminatorSubstep and
GeneratorSubstep records, and `Intermediates` names them by one table, INTERMEDIATES.

Shapes: keys (P, 2) uint32, sigma (P,), theta_G (P, n_params_G), theta_D (P, n_params_D).
"""

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np

from fast import data, device, fused_step_cpu, loss, mlp, noise, optim, penalty, philox
from reference import gan as reference_gan
from reference.config import ConfigError, GANConfig
from reference.data import get_dataset
from reference.noise import sigma_schedule
from reference.penalty import NONE
from reference.philox import Stream, SubstepRandom, key_from_seed

# A population lives in one process: 2**20 GANs of the default size are already ~150 GB.
MAX_POPULATION = 2**20


# What the GANs of one population may differ in. Every other field shapes the step (sizes,
# d_steps, steps, the data) or its shared kernels' scalars (lr, betas, the generator loss).
PER_GAN = ("seed", "sigma0", "anneal", "anneal_steps", "real_target", "label_flip", "penalty",
           "gamma")  # fmt: skip
# What the GPU path takes as one value for all GANs (its loss kernel's scalars); the rest of
# PER_GAN it takes per GAN, but the penalties not at all (no kernels: see resolve_device).
SHARED_ON_GPU = ("real_target", "label_flip")


@dataclass(frozen=True)
class PopulationConfig:
    """P GANs, GAN p the reference configuration members[p]; they agree on every field but
    PER_GAN."""

    members: tuple[GANConfig, ...]

    def __post_init__(self):
        if not 1 <= len(self.members) <= MAX_POPULATION:
            raise ConfigError("seeds", len(self.members), f"between 1 and {MAX_POPULATION} GANs")
        for name in GANConfig.__dataclass_fields__:
            values = {getattr(member, name) for member in self.members}
            if name not in PER_GAN and len(values) > 1:
                raise ConfigError(
                    name, sorted(values, key=str), "one value for the whole population"
                )

    @classmethod
    def seeded(cls, base: GANConfig, seeds, sigma0s) -> "PopulationConfig":
        """GAN p: base with seeds[p] and sigma0s[p] (GANConfig checks each)."""
        if len(sigma0s) != len(seeds):
            raise ConfigError("sigma0s", len(sigma0s), f"one per GAN ({len(seeds)})")
        return cls(tuple(replace(base, seed=seed, sigma0=sigma0)
                         for seed, sigma0 in zip(seeds, sigma0s, strict=True)))  # fmt: skip

    @property
    def base(self) -> GANConfig:
        """GAN 0's configuration, whose fields outside PER_GAN are everyone's."""
        return self.members[0]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(member.seed for member in self.members)

    @property
    def sigma0s(self) -> tuple[float, ...]:
        return tuple(member.sigma0 for member in self.members)

    def member(self, p: int) -> GANConfig:
        """The reference configuration of GAN p."""
        return self.members[p]

    def per_gan(self, name: str) -> np.ndarray:
        """(P,) float64: a numeric PER_GAN field (not anneal or penalty) of every GAN."""
        return np.array([getattr(member, name) for member in self.members], dtype=np.float64)

    def option(self, name: str):
        """A PER_GAN number as the kernels take it: one float when every GAN has the same,
        else (P,) float64 (which only the CPU kernels take: see init_state)."""
        values = self.per_gan(name)
        return float(values[0]) if np.all(values == values[0]) else values

    def keys(self) -> np.ndarray:
        """(P, 2) uint32 Philox keys, one per GAN."""
        return np.stack([key_from_seed(seed) for seed in self.seeds])

    def sigma_at(self, step: int) -> np.ndarray:
        """(P,) float32 instance-noise std of every GAN at a step: the reference's
        sigma_schedule per GAN, as sigma0 times its schedule's factor."""
        return self._scheduled(self._initial[0], step)

    def gamma_at(self, step: int) -> np.ndarray:
        """(P,) float32 penalty weight of every GAN at a step, on sigma's schedule."""
        return self._scheduled(self._initial[1], step)

    def _scheduled(self, initial: np.ndarray, step: int) -> np.ndarray:
        """initial (P,) times each GAN's schedule factor at step, the factor formed once per
        distinct schedule (a step of P = 1024 would otherwise pay 1024 Python calls)."""
        value = np.empty(self.size, dtype=np.float64)
        for (anneal, anneal_steps), gans in self._schedules.items():
            value[gans] = initial[gans] * sigma_schedule(1.0, anneal, anneal_steps, step)
        return value.astype(np.float32)

    # Cached on the instance: hashing P configs every step would cost more.
    @functools.cached_property
    def _initial(self) -> tuple[np.ndarray, np.ndarray]:
        """(sigma0, gamma): (P,) float64 each."""
        return self.per_gan("sigma0"), self.per_gan("gamma")

    @functools.cached_property
    def _schedules(self) -> dict[tuple[str, int], np.ndarray]:
        """{(anneal, anneal_steps): the GANs that follow it}."""
        groups: dict[tuple[str, int], list[int]] = {}
        for p, member in enumerate(self.members):
            groups.setdefault((member.anneal, member.anneal_steps), []).append(p)
        return {key: np.array(gans) for key, gans in groups.items()}

    @functools.cached_property
    def penalties(self) -> np.ndarray:
        """(P,) int64: each GAN's penalty as its code (reference/penalty.py: NONE, R1, ...)."""
        return penalty.codes(self.members)

    @functools.cached_property
    def penalised(self) -> bool:
        """Whether some GAN has a penalty: the step then runs it and names its penalty_D."""
        return bool((self.penalties != NONE).any())


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

    def __init__(self, step: int, record: dict, gans: list[int], population: int):
        super().__init__(step, record)
        self.gans = gans
        if population > 1:  # a single run's error reads as the reference's
            self.args = (f"GAN {gans[0]} of the population (of {len(gans)} bad): "
                         f"{self.args[0]}",)  # fmt: skip


def resolve_device(config: PopulationConfig, device_name: str) -> str:
    """'cpu' or 'gpu' for this population; ConfigError if the GPU cannot take it. A
    penalty runs on the CPU only (no GPU has run its kernels, so none are shipped): auto
    then picks the CPU, and gpu is refused."""
    penalised = sorted({member.penalty for member in config.members} - {"none"})
    if penalised and device_name == "gpu":
        raise ConfigError("penalty", penalised[0], "none on the GPU (the penalties "
                                        "run on the CPU only: --device cpu)")  # fmt: skip
    where = device.resolve("cpu" if penalised else device_name)
    for name in SHARED_ON_GPU * (where == "gpu"):
        if not isinstance(config.option(name), float):
            values = sorted({getattr(member, name) for member in config.members})
            raise ConfigError(name, values, "one value for a population on the GPU")
    return where


def init_state(config: PopulationConfig, device_name: str = "auto") -> PopulationState:
    """Every GAN initialised exactly as reference.gan.init_state(member), cast to float32.
    On a GPU the GANs must share SHARED_ON_GPU and have no penalty: ConfigError names the
    first option that stops them (resolve_device)."""
    where = resolve_device(config, device_name)
    members = [reference_gan.init_state(config.member(p)) for p in range(config.size)]
    theta_G = device.to_device(np.stack([m.theta_G for m in members]).astype(np.float32), where)
    theta_D = device.to_device(np.stack([m.theta_D for m in members]).astype(np.float32), where)
    keys = device.to_device(config.keys(), where)
    return PopulationState(
        theta_G, theta_D, optim.adam_init(theta_G), optim.adam_init(theta_D), keys
    )


class DiscriminatorSubstep(NamedTuple):
    """A discriminator substep's tensors, each with a leading P axis: what every version of
    the step hands over, for `Intermediates` to name."""

    x_real: object  # (P, B, dim)
    z: object  # (P, B, Z)
    x_fake: object  # (P, B, dim)
    x_noisy: object  # (P, 2B, dim): D's input, the real samples' rows first
    logits: object  # (P, 2B)
    dlogits: object  # (P, 2B): of loss_D, the penalty's through Roth's weights included
    loss_D: object  # (P,): the logistic loss plus the penalty
    penalty_D: object  # (P,), 0 for a GAN without one; None when no GAN has a penalty
    dtheta_D: object  # (P, n_params_D)


class GeneratorSubstep(NamedTuple):
    """The generator substep's tensors, each with a leading P axis."""

    z: object  # (P, B, Z)
    x_fake: object  # (P, B, dim)
    x_fake_noisy: object  # (P, B, dim)
    logits: object  # (P, B): D's, on the noisy fakes
    dlogits: object  # (P, B)
    loss_G: object  # (P,)
    dx_fake: object  # (P, B, dim)
    dtheta_G: object  # (P, n_params_G)


def discriminator_substep(
    config: PopulationConfig, state: PopulationState, rng: SubstepRandom, sigma, gamma
) -> DiscriminatorSubstep:
    base = config.base
    spec_D, batch = base.discriminator_spec(), base.batch
    x_real = data.sample(get_dataset(base.dataset), rng, batch)
    z, x_fake = generate(config, state.theta_G, rng, batch)
    # Instance noise on real and fake samples, written straight into D's input.
    x_noisy = noise.noisy_discriminator_input(x_real, x_fake, sigma, rng)  # (P, 2B, dim)
    logits, cache = mlp.forward(spec_D, state.theta_D, x_noisy)
    loss_D, dlogit_real, dlogit_fake = loss.discriminator_loss_with_label_noise(
        logits[:, :batch, 0], logits[:, batch:, 0], config.option("real_target"),
        config.option("label_flip"), rng,
    )  # fmt: skip
    dlogits = device.array_module(logits).concatenate([dlogit_real, dlogit_fake], axis=1)
    # D's gradient of loss_D plus the penalty, where a GAN has one (its value, and its
    # gradient through D's output and through the input gradients: fast/penalty.py)
    loss_D, dtheta_D, dlogits, penalty_D = penalty.penalised_backward(
        spec_D, state.theta_D, cache, logits[:, :, 0], loss_D, dlogits[:, :, None], batch,
        config.penalties, gamma,
    )  # fmt: skip
    optim.adam_step(state.theta_D, dtheta_D, state.adam_D, base.lr, base.beta1, base.beta2)
    return DiscriminatorSubstep(
        x_real, z, x_fake, x_noisy, logits[:, :, 0], dlogits[:, :, 0], loss_D, penalty_D, dtheta_D
    )


def generator_substep(
    config: PopulationConfig, state: PopulationState, rng: SubstepRandom, sigma
) -> GeneratorSubstep:
    base = config.base
    spec_G, spec_D = base.generator_spec(), base.discriminator_spec()
    z = philox.substep_normal(rng, Stream.LATENT, (base.batch, base.latent))
    x_fake, cache_G = mlp.forward(spec_G, state.theta_G, z)
    x_fake_noisy = noise.add_instance_noise(x_fake, sigma, rng, Stream.FAKE_NOISE)
    logits, cache_D = mlp.forward(spec_D, state.theta_D, x_fake_noisy)
    logit_fake = logits[:, :, 0]
    loss_G, dlogit_fake = loss.generator_loss(logit_fake, base.generator_loss)
    # The noise is additive, so dL/dx_fake = dL/dx_fake_noisy: D's input gradient. D's
    # weight gradients are not needed here (param_grad False).
    _, dx_fake = mlp.backward(spec_D, state.theta_D, cache_D, dlogit_fake[:, :, None], False)
    dtheta_G, _ = mlp.backward(spec_G, state.theta_G, cache_G, dx_fake)
    optim.adam_step(state.theta_G, dtheta_G, state.adam_G, base.lr, base.beta1, base.beta2)
    return GeneratorSubstep(
        z, x_fake, x_fake_noisy, logit_fake, dlogit_fake, loss_G, dx_fake, dtheta_G
    )


def generate(config: PopulationConfig, theta_G, rng: SubstepRandom, n: int):
    """(z: (P, n, Z), x_fake: (P, n, dim)), z from each GAN's LATENT stream of the substep."""
    z = philox.substep_normal(rng, Stream.LATENT, (n, config.base.latent))
    x_fake, _ = mlp.forward(config.base.generator_spec(), theta_G, z)
    return z, x_fake


def composed_step(
    config: PopulationConfig, state: PopulationState, step: int
) -> tuple[dict, "Intermediates"]:
    """One step of all P GANs as the composition of the public kernels, updating state in
    place: the substeps above, then the record. It runs where the state lives (NumPy arrays:
    the CPU's Numba kernels; CuPy arrays: the GPU's). What train_step runs on the GPU, and
    the oracle that the fused CPU step (bit for bit) and the CUDA graph are tested against.
    Returns train_step's (record, intermediates)."""
    base = config.base
    sigma, gamma = device.to_device(config.sigma_at(step), state.device), config.gamma_at(step)
    d_substeps = []
    for substep in range(base.d_steps):
        rng = SubstepRandom(state.keys, step, substep)
        d_substeps.append(discriminator_substep(config, state, rng, sigma, gamma))
    rng = SubstepRandom(state.keys, step, base.d_steps)
    g_substep = generator_substep(config, state, rng, sigma)
    last, xp = d_substeps[-1], device.array_module(state.theta_G)

    def mean_D(logit):  # sigmoid as 0.5 (1 + tanh(l / 2)): no overflow for any logit
        return xp.mean(0.5 + 0.5 * xp.tanh(0.5 * logit), axis=1)

    record = {
        "step": step,
        "sigma": sigma,
        "loss_D": last.loss_D,
        "loss_G": g_substep.loss_G,
        "D_real": mean_D(last.logits[:, : base.batch]),
        "D_fake": mean_D(last.logits[:, base.batch :]),
    }
    return record, Intermediates(base, config.penalised, lambda: (d_substeps, g_substep))


def train_step(config: PopulationConfig, state: PopulationState, step: int) -> tuple[dict, Mapping]:
    """One step of all P GANs, updating state in place. Returns (record, intermediates)
    with the reference's keys; record values are (P,) arrays on the state's device, and the
    intermediates a mapping of (P, ...) arrays. On the CPU the step is
    fast/fused_step_cpu.py's (composed_step's bits in one Numba call), on the GPU
    composed_step."""
    if state.device == "cpu":
        return fused_step_cpu.train_step(config, state, step)
    return composed_step(config, state, step)


# The intermediates of each substep as reference/gan.py names them, in its order: (name,
# the field of the substep's record that holds it, its rows: "real" D's first B, "fake" its
# last B, None all). Each substep's parameter gradients follow, named as
# mlp.named_parameters names them ('dW1_D', 'db1_D', ...). The one table by which the
# composed, fused and graph steps name their tensors.
INTERMEDIATES = {
    "discriminator": (
        ("x_real", "x_real", None),
        ("z", "z", None),
        ("x_fake", "x_fake", None),
        ("x_real_noisy", "x_noisy", "real"),
        ("x_fake_noisy", "x_noisy", "fake"),
        ("logit_real", "logits", "real"),
        ("logit_fake", "logits", "fake"),
        ("penalty_D", "penalty_D", None),  # where some GAN has a penalty
        ("loss_D", "loss_D", None),
        ("dlogit_real", "dlogits", "real"),
        ("dlogit_fake", "dlogits", "fake"),
    ),
    "generator": (
        ("z", "z", None),
        ("x_fake", "x_fake", None),
        ("x_fake_noisy", "x_fake_noisy", None),
        ("logit_fake", "logits", None),
        ("loss_G", "loss_G", None),
        ("dlogit_fake", "dlogits", None),
        ("dx_fake", "dx_fake", None),
    ),
}


@functools.cache
def intermediate_names(base: GANConfig, penalised: bool) -> dict:
    """'d{s}/name' and 'g/name' -> (substep, field, part): every intermediate of a step, in
    the reference's order, as the field of that substep's record (the generator's is
    substep d_steps) and its part: rows as in INTERMEDIATES, or a gradient's
    (start, stop, shape) in the flat dtheta. 'd{s}/penalty_D' only where penalised."""
    names, S = {}, base.d_steps
    for s in range(S):
        for name, source, rows in INTERMEDIATES["discriminator"]:
            if source != "penalty_D" or penalised:
                names[f"d{s}/{name}"] = (s, source, rows)
        for name, part in _gradients(base.discriminator_spec(), "_D"):
            names[f"d{s}/{name}"] = (s, "dtheta_D", part)
    for name, source, rows in INTERMEDIATES["generator"]:
        names[f"g/{name}"] = (S, source, rows)
    for name, part in _gradients(base.generator_spec(), "_G"):
        names[f"g/{name}"] = (S, "dtheta_G", part)
    return names


def _gradients(spec, suffix: str) -> list:
    """[(name, (start, stop, shape))]: where each of mlp.named_parameters(spec, dtheta, 'd',
    suffix)'s views lies in a flat gradient, and its shape."""
    parts = []
    for layer, ((w_start, b_start, b_end), n_in, n_out) in enumerate(
        zip(spec.offsets(), spec.sizes[:-1], spec.sizes[1:], strict=True), start=1
    ):
        parts.append((f"dW{layer}{suffix}", (w_start, b_start, (n_in, n_out))))
        parts.append((f"db{layer}{suffix}", (b_start, b_end, (n_out,))))
    return parts


class Intermediates(Mapping):
    """A step's named intermediates (intermediate_names), each a (P, ...) view of a field of
    its substeps' records. `substeps()` gives the records, ([DiscriminatorSubstep per
    substep], GeneratorSubstep), on the first access, and each intermediate is formed on
    its own first access: a training loop that reads none pays for none (~50 views a step
    would be 3% of a fused P = 1 step)."""

    def __init__(self, base: GANConfig, penalised: bool, substeps: Callable[[], tuple]):
        self._base, self._penalised, self._substeps = base, penalised, substeps
        self._records, self._formed = None, {}

    @functools.cached_property
    def _names(self) -> dict:
        return intermediate_names(self._base, self._penalised)

    def __getitem__(self, name: str):
        if name not in self._formed:
            substep, source, part = self._names[name]
            if self._records is None:
                d_substeps, g_substep = self._substeps()
                self._records = (*d_substeps, g_substep)
            self._formed[name] = _part_of(getattr(self._records[substep], source), part)
        return self._formed[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _part_of(value, part):
    """A part of a record's (P, ...) field: D's real or fake rows, a gradient's view, or all."""
    if part is None:
        return value
    if part in ("real", "fake"):
        batch = value.shape[1] // 2
        return value[:, :batch] if part == "real" else value[:, batch:]
    start, stop, shape = part
    return value[:, start:stop].reshape(-1, *shape)


def train(config: PopulationConfig, state: PopulationState, start: int = 0) -> Iterator[dict]:
    """Run steps start .. config.base.steps - 1 on state in place, yielding each step's
    record (host (P,) arrays). Raises NonFiniteLossError at the first step where any GAN's
    loss is not finite, before yielding it. On the GPU the steps are GraphStep's: one CUDA graph
    replayed per step (the same arithmetic as train_step, launched at once)."""
    if state.device == "gpu":
        from fast.graph_step_gpu import GraphStep

        step_function = GraphStep(config, state)
    else:

        def step_function(step):
            return train_step(config, state, step)

    for step in range(start, config.base.steps):
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
            raise NonFiniteLossError(step, member_record, gans, config.size)
        yield record
