"""fast/gan.py against reference/gan.py on every backend: one training step tensor by
tensor over the reference's named intermediates (random shapes, sigma including 0, label
noise, both generator losses, extreme logits), sigma = 0 equal to the noiseless path
exactly, twenty steps, and a population of P GANs equal to P separate runs. On the CPU the
fused step is its oracle's, fast.gan.composed_step's, bit for bit.

The reference starts from the fast path's float32 parameters (cast to float64), so what
is compared is the float32 arithmetic alone; its tolerance comes from
tests/tolerance.py::float32_atol, through step_atol.
"""

import copy
import dataclasses

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast import device, fused_step_cpu
from fast import gan as fast_gan
from reference import data, gan, loss, mlp, optim
from reference.config import ConfigError, GANConfig
from reference.penalty import PENALTIES
from reference.philox import SubstepRandom, key_from_seed
from tests.strategies import label_flips, label_smoothings, seeds, sigmas
from tests.tolerance import assert_close, float32_atol, network_terms, penalty_terms

SMALL = GANConfig(batch=64, hidden=32, sigma0=0.3, label_flip=0.05, real_target=0.9)
RECORD = ("sigma", "loss_D", "loss_G", "D_real", "D_fake")


def step_terms(config: GANConfig) -> tuple[int, int]:
    """(n_terms, depth) of a step for tests/tolerance.py::float32_atol: it chains G forward,
    D forward, D backward and G backward, 4 L layers, each a float32 sum over at most
    max(2B, H, Z) terms (D's weight gradients sum over all 2B noisy samples)."""
    n_layers = config.discriminator_spec().n_layers
    return max(2 * config.batch, config.hidden, config.latent), 4 * n_layers


def step_atol(config: GANConfig, name: str, expected, intermediates=None,
              terms: float = 0.0, logit_scale: float = 1.0, steps: int = 1) -> float:  # fmt: skip
    """The tolerance of one of a step's tensors (an intermediate 'd0/dW1_D' or a record
    entry 'loss_D'), from float32_atol at the step's (n_terms, depth): scaled by the
    tensor's own max |expected|, or by `terms` (max ||terms||_2 of the sums that made it,
    network_terms) where that is larger, i.e. where the sum cancels. `intermediates`: the
    step's expected intermediates, for the dlogits of the tensor's substep. `steps`
    one-step bounds add up to first order over that many steps.

    - Logits are sums of O(1) terms (O(1) inputs, weights of at most 1 / sqrt(fan_in)) and
      losses means of softplus of them, so they are O(1) by construction (floor 1) and may
      cancel to far less; logit_scale multiplies D's output layer, so their terms, floor.
    - dlogit = (sigmoid(logit) - target) / n, n = 2B logits in a D substep and B in the G
      substep: a difference of terms of size 1 / n (floor 1 / n), which cancels when D is
      right. sigmoid' <= 1/4, so a logit error of logit_scale times its own arithmetic's
      (the unsaturated logits, |logit| = O(1), are cancellations of logit_scale-sized
      terms) reaches the dlogit divided by 4: gain max(1, logit_scale / 4).
    - Every gradient (D's weights, D's input g/dx_fake, G's weights) is linear in its
      substep's dlogits, so it inherits their floor and gain: its floor is its own max
      scaled up by 1 / (n max |dlogit|) (>= 1; large where the dlogits cancel or underflow:
      saturated logits give float32 dlogits of 0 where float64 has 1e-186). D's output
      bias gradient is the sum of the dlogits: at least their ||.||_2 (it cancels often).
    - D_real, D_fake are means of sigmoid(logit): scale at least sigmoid' * logit_scale.
    - Everything upstream of D (data, z, G's output, the noisy inputs) and sigma: its own
      scale, gain 1; a noisy input x + sigma eps is at least its terms' |x| + |sigma eps|.
    """
    n_terms, depth = step_terms(config)
    kind = name.split("/")[-1]
    n_logits = config.batch if name.startswith("g/") else 2 * config.batch
    downstream_gain = max(1.0, logit_scale / 4)
    if kind in {"logit_real", "logit_fake", "loss_D", "loss_G"}:
        floor, gain = logit_scale, 1.0
    elif kind in {"D_real", "D_fake"}:
        floor, gain = logit_scale / 4, 1.0
    elif kind in {"x_real_noisy", "x_fake_noisy"}:  # x + sigma eps: at least its terms'
        x = device.to_host(intermediates[name.removesuffix("_noisy")])
        floor, gain = max_abs(np.abs(x) + np.abs(np.asarray(expected) - x)), 1.0
    elif kind in UPSTREAM_OF_D or kind == "sigma":
        floor, gain = 0.0, 1.0
    elif kind in {"dlogit_real", "dlogit_fake"}:
        floor, gain = 1 / n_logits, downstream_gain
    elif kind == "penalty_D":  # its terms' scale comes in `terms` (penalty_terms)
        floor, gain = 0.0, downstream_gain
    else:  # a gradient
        prefix = name.split("/")[0] + "/"
        dlogits = np.concatenate([
            np.ravel(device.to_host(intermediates[prefix + k]))
            for k in ("dlogit_real", "dlogit_fake") if prefix + k in intermediates
        ])  # fmt: skip
        own, dlogit_max = max_abs(expected), max_abs(dlogits)
        floor = own / (n_logits * dlogit_max) if dlogit_max > 0 else 0.0
        if kind == f"db{config.discriminator_spec().n_layers}_D":
            floor = max(floor, float(np.sqrt(np.sum(dlogits**2))))
        gain = downstream_gain
    return float32_atol(expected, n_terms, depth, max(floor, terms), steps * gain)


def max_abs(values) -> float:
    return float(np.abs(np.asarray(values, dtype=np.float64)).max(initial=0.0))


def reference_states(population: fast_gan.PopulationConfig, state) -> list[gan.GANState]:
    """The reference state of each GAN, starting from the fast path's float32 parameters."""
    states = []
    for p in range(population.size):
        ref = gan.init_state(population.member(p))
        ref.theta_G[...] = device.to_host(state.theta_G)[p]
        ref.theta_D[...] = device.to_host(state.theta_D)[p]
        states.append(ref)
    return states


def assert_matches(label: str, actual, expected, atol: float) -> float:
    """The worst error as a fraction of atol, asserted <= 1."""
    expected = np.asarray(expected, dtype=np.float64)
    return assert_close(label, device.to_host(actual), expected, atol=atol, rtol=0.0)


def reference_step(member: GANConfig, ref_state, step: int, fast_intermediates, p: int):
    """reference.gan.train_step's (record, intermediates) for GAN p, except that each D
    substep's Adam update takes the fast path's gradient of that substep.

    Adam turns a gradient that is zero up to rounding (an exact cancellation: saturated
    logits give dlogits of exactly -1/2B and +1/2B, whose sums cancel) into a step of +-lr
    whose sign is the rounding's, so float32 and float64 would leave such a parameter 2 lr
    apart, and a scaled-up output layer turns that into a visible logit shift. With the fast
    gradient, every substep starts from the same parameters up to one rounding, so each
    tensor's error is its own substep's float32 arithmetic."""
    key, sigma, gamma = key_from_seed(member.seed), member.sigma_at(step), member.gamma_at(step)
    spec_D, spec_G, intermediates, terms = (
        member.discriminator_spec(),
        member.generator_spec(),
        {},
        {},
    )
    for s in range(member.d_steps):
        theta_D, adam_D = ref_state.theta_D.copy(), copy.deepcopy(ref_state.adam_D)
        out = gan.discriminator_substep(
            member, ref_state, SubstepRandom(key, step, s), sigma, gamma
        )
        intermediates |= {f"d{s}/{name}": value for name, value in out.items()}
        x = np.concatenate([out["x_real_noisy"], out["x_fake_noisy"]])
        dy = np.concatenate([out["dlogit_real"], out["dlogit_fake"]])[:, None]
        network = network_terms(spec_D, theta_D, x, dy, "d", "_D")
        network["logit_real"] = network["logit_fake"] = network.pop("y")
        zeros = np.zeros_like(out["x_fake"])  # G's backward is not part of a D substep
        network["x_fake"] = network_terms(spec_G, ref_state.theta_G, out["z"], zeros, "", "")["y"]
        if member.penalty != "none":  # its sums' terms join the network's (the larger)
            logit = np.concatenate([out["logit_real"], out["logit_fake"]])
            extra = penalty_terms(spec_D, theta_D, x, logit, member.batch, member.penalty, gamma,
                                  "d", "_D")  # fmt: skip
            network["penalty_D"] = extra.pop("penalty")
            network["loss_D"] = max(network["penalty_D"], 1.0)
            network["dlogit_real"] = network["dlogit_fake"] = extra.pop("dlogit")
            network |= {name: max(value, network[name]) for name, value in extra.items()}
        terms |= {f"d{s}/{name}": value for name, value in network.items()}
        names = mlp.named_parameters(spec_D, theta_D, prefix="d", suffix="_D")  # flat order
        fast_grad = np.concatenate(
            [device.to_host(fast_intermediates[f"d{s}/{name}"])[p].ravel() for name in names]
        )
        ref_state.theta_D[...], ref_state.adam_D = theta_D, adam_D
        optim.adam_step(
            ref_state.theta_D, fast_grad.astype(np.float64), ref_state.adam_D, member.lr,
            member.beta1, member.beta2,
        )  # fmt: skip
    theta_G = ref_state.theta_G.copy()
    out = gan.generator_substep(member, ref_state, SubstepRandom(key, step, member.d_steps), sigma)
    intermediates |= {f"g/{name}": value for name, value in out.items()}
    network = network_terms(spec_D, ref_state.theta_D, out["x_fake_noisy"],
                            out["dlogit_fake"][:, None], "", "")  # fmt: skip
    terms |= {"g/logit_fake": network["y"], "g/dx_fake": network["dx"]}
    # G's backward starts from dx_fake, whose error is on the scale of D's terms for it
    # where D's input gradient cancels (batch 1, width 2: 1.6x a tolerance taken from
    # |dx_fake| alone), so its terms start at that scale
    dx_fake_terms = np.maximum(np.abs(out["dx_fake"]), terms["g/dx_fake"])
    network = network_terms(spec_G, theta_G, out["z"], dx_fake_terms, "d", "_G")
    terms |= {"g/x_fake": network.pop("y")} | {f"g/{k}": v for k, v in network.items() if k != "dx"}
    last = f"d{member.d_steps - 1}/"
    record = {
        "sigma": sigma,
        "loss_D": intermediates[last + "loss_D"],
        "loss_G": intermediates["g/loss_G"],
        "D_real": float(np.mean(loss.sigmoid(intermediates[last + "logit_real"]))),
        "D_fake": float(np.mean(loss.sigmoid(intermediates[last + "logit_fake"]))),
    }
    return record, intermediates, terms


UPSTREAM_OF_D = {"x_real", "z", "x_fake", "x_real_noisy", "x_fake_noisy"}  # G and noise only


def assert_step_matches(population, state, ref_states, step: int, logit_scale=1.0) -> None:
    """One fast step against reference_step for every GAN, tensor by tensor, each within
    step_atol: its own scale, or its terms' (network_terms) where a sum cancels. A D output
    layer scaled by logit_scale makes the logits sums of logit_scale times larger terms
    (step_atol's floor and gain); D's inputs are unaffected."""
    record, intermediates = fast_gan.train_step(population, state, step)
    config = population.base
    for p, ref_state in enumerate(ref_states):
        member = population.member(p)
        ref_record, ref_intermediates, terms = reference_step(
            member, ref_state, step, intermediates, p
        )
        names = list(intermediates)
        for name in set(names) - set(ref_intermediates):  # a penalty that other GANs have
            assert name.endswith("/penalty_D") and device.to_host(intermediates[name])[p] == 0
        assert [n for n in names if n in ref_intermediates] == list(ref_intermediates)
        for name, expected in ref_intermediates.items():  # a failure names the tensor
            actual = device.to_host(intermediates[name])[p]
            atol = step_atol(config, name, expected, ref_intermediates, terms.get(name, 0.0),
                             logit_scale)  # fmt: skip
            assert_matches(f"GAN {p} {name}", actual, expected, atol)
        for name in RECORD:
            actual = device.to_host(record[name])[p]
            atol = step_atol(config, name, ref_record[name], logit_scale=logit_scale)
            assert_matches(f"GAN {p} {name}", actual, ref_record[name], atol)
    assert record["step"] == step


@given(
    seed_noise=st.lists(st.tuples(seeds, sigmas), min_size=1, max_size=3),
    batch=st.sampled_from((1, 2, 5, 37)),  # 1, and sizes that are a multiple of no block size
    hidden=st.integers(1, 24),
    latent=st.integers(1, 8),
    dataset=st.sampled_from(sorted(data.TOYS)),
    smoothing=label_smoothings,
    flip=label_flips,
    generator_loss=st.sampled_from(loss.GENERATOR_LOSSES),
    d_steps=st.integers(1, 2),
    step=st.integers(0, 2**32 - 1),
    logit_scale=st.sampled_from((1.0, 1e3)),  # 1e3: logits of several hundred
    first_penalty=st.sampled_from(PENALTIES),  # GAN 0's; on the CPU only
    gamma=st.sampled_from((0.1, 10.0)),
)
def test_one_step_matches_the_reference_tensor_by_tensor(
    backend, seed_noise, batch, hidden, latent, dataset, smoothing, flip, generator_loss,
    d_steps, step, logit_scale, first_penalty, gamma,
):  # fmt: skip
    base = GANConfig(
        dataset=dataset, batch=batch, hidden=hidden, latent=latent, real_target=smoothing,
        label_flip=flip, generator_loss=generator_loss, d_steps=d_steps,
    )  # fmt: skip
    population = fast_gan.PopulationConfig.seeded(
        base, tuple(s for s, _ in seed_noise), tuple(n for _, n in seed_noise)
    )
    if backend == "cpu" and first_penalty != "none":
        first = dataclasses.replace(population.member(0), penalty=first_penalty, gamma=gamma)
        population = fast_gan.PopulationConfig((first, *population.members[1:]))
    state = fast_gan.init_state(population, backend)
    # Scaling D's output layer (W3: (H, 1) and b3, the last H + 1 entries of theta_D)
    # scales its logits: the fused loss and everything downstream must hold there too.
    theta_D = device.to_host(state.theta_D).copy()
    theta_D[:, -(hidden + 1) :] *= logit_scale
    state.theta_D[...] = device.to_device(theta_D, backend)
    assert_step_matches(population, state, reference_states(population, state), step, logit_scale)


def test_sigma_zero_is_the_noiseless_path_exactly(backend):
    config = dataclasses.replace(SMALL, d_steps=2)
    population = fast_gan.PopulationConfig.seeded(config, seeds=(1, 2), sigma0s=(0.0, 0.5))
    state = fast_gan.init_state(population, backend)
    _, intermediates = fast_gan.train_step(population, state, 3)
    for prefix in ("d0/", "d1/", "g/"):
        noiseless = device.to_host(intermediates[prefix + "x_fake"])
        noisy = device.to_host(intermediates[prefix + "x_fake_noisy"])
        assert np.array_equal(noisy[0], noiseless[0])
        assert not np.array_equal(noisy[1], noiseless[1])  # the other GAN's noise is on
    for prefix in ("d0/", "d1/"):
        real = device.to_host(intermediates[prefix + "x_real"])[0]
        assert np.array_equal(device.to_host(intermediates[prefix + "x_real_noisy"])[0], real)


def test_standard_configuration_step_matches_the_reference(backend):
    population = fast_gan.PopulationConfig.seeded(GANConfig(sigma0=0.1), seeds=(0,), sigma0s=(0.1,))
    state = fast_gan.init_state(population, backend)
    assert_step_matches(population, state, reference_states(population, state), 7)


def test_a_step_on_the_ring_in_32_dimensions_matches_the_reference(backend):
    # A thin set in a space wider than the latent: D's input rows are 32 wide, G's output too.
    base = GANConfig(dataset="ring32d", batch=64, hidden=32)
    population = fast_gan.PopulationConfig.seeded(base, seeds=(0, 3), sigma0s=(0.1, 0.0))
    state = fast_gan.init_state(population, backend)
    assert_step_matches(population, state, reference_states(population, state), 11)


def test_twenty_steps_track_the_reference(backend):
    population = fast_gan.PopulationConfig.seeded(SMALL, seeds=(0, 5), sigma0s=(0.3, 0.0))
    state = fast_gan.init_state(population, backend)
    ref_states = reference_states(population, state)
    for step in range(20):
        record, _ = fast_gan.train_step(population, state, step)
        for p, ref_state in enumerate(ref_states):
            ref_record, _ = gan.train_step(population.member(p), ref_state, step)
            # Each step's losses inherit every earlier step's parameter error: at most
            # step + 1 one-step bounds to first order.
            for name in ("loss_D", "loss_G"):
                actual = device.to_host(record[name])[p]
                atol = step_atol(SMALL, name, ref_record[name], steps=step + 1)
                assert_matches(f"GAN {p} {name}@{step}", actual, ref_record[name], atol)
    # Adam moves every parameter by about lr per step whatever its gradient's size, so an
    # update whose gradient sits at the rounding level can differ by up to lr: a tenth of
    # lr over 20 steps bounds it for this configuration (measured ~2e-7 on the CPU).
    for p, ref_state in enumerate(ref_states):
        for name in ("theta_G", "theta_D"):
            actual = device.to_host(getattr(state, name))[p]
            assert_close(f"GAN {p} {name}", actual, getattr(ref_state, name), 0.1 * SMALL.lr, 0.0)


def test_a_population_equals_separate_runs(backend):
    base = dataclasses.replace(SMALL, d_steps=2)
    seeds_, sigma0s = (3, 11, 2**40 + 1), (0.0, 0.1, 0.5)
    population = fast_gan.PopulationConfig.seeded(base, seeds=seeds_, sigma0s=sigma0s)
    state = fast_gan.init_state(population, backend)
    singles = [
        fast_gan.PopulationConfig.seeded(base, (s,), (n,))
        for s, n in zip(seeds_, sigma0s, strict=True)
    ]
    single_states = [fast_gan.init_state(single, backend) for single in singles]
    for step in range(3):
        _, together = fast_gan.train_step(population, state, step)
        for p, (single, single_state) in enumerate(zip(singles, single_states, strict=True)):
            _, alone = fast_gan.train_step(single, single_state, step)
            for name, value in alone.items():
                actual = device.to_host(together[name])[p]
                expected = device.to_host(value)[0]
                if backend == "cpu":
                    # Exact: each GAN's kernels touch only its own rows, and BLAS splits a
                    # GEMM over output tiles, never the reduction, whatever its threads.
                    assert np.array_equal(actual, expected), f"GAN {p} {name}"
                else:
                    # cuBLAS may choose another GEMM algorithm for another batch count.
                    assert_matches(
                        f"GAN {p} {name}", actual, expected, step_atol(base, name, expected, alone)
                    )


class FixedThreads:
    """A stand-in for fast.device.ThreadChoice that always picks `threads`."""

    def __init__(self, threads: int):
        self.threads, self.most = (lambda: threads), numba.get_num_threads()

    def record(self, threads: int, seconds: float) -> None:
        pass


@pytest.mark.skipif(numba.get_num_threads() < 2, reason="one Numba thread here")
def test_a_single_gan_computes_the_same_bits_on_one_thread_as_on_every_thread():
    # The P = 1 step's parts are the same GEMMs and loops however many threads run them
    # (device.SHARES), so its thread choice may change from step to step.
    config = dataclasses.replace(SMALL, d_steps=2, penalty="roth", gamma=0.1)
    single = fast_gan.PopulationConfig.seeded(config, seeds=(5,), sigma0s=(0.3,))
    one, every = (fast_gan.init_state(single, "cpu") for _ in "oe")
    one.workspace["threads"] = FixedThreads(1)
    every.workspace["threads"] = FixedThreads(numba.get_num_threads())
    for step in range(3):
        record_alone, alone = fast_gan.train_step(single, one, step)
        record_shared, shared = fast_gan.train_step(single, every, step)
        shared = {**shared, **record_shared}
        for name, value in {**alone, **record_alone}.items():
            assert np.array_equal(shared[name], value), name
    for name in ("theta_G", "theta_D"):
        assert np.array_equal(getattr(one, name), getattr(every, name))


def assert_fused_is_composed(population, steps: int) -> None:
    """`steps` fused CPU steps against fast.gan.composed_step's from the same state: every
    intermediate (the same names, in the same order) and the states bit for bit, Adam's
    moments and counts included."""
    fused, composed = (fast_gan.init_state(population, "cpu") for _ in "fc")
    for step in range(steps):
        _, intermediates = fast_gan.train_step(population, fused, step)
        _, expected = fast_gan.composed_step(population, composed, step)
        assert list(intermediates) == list(expected)
        for name, value in expected.items():
            assert np.array_equal(intermediates[name], value), name
    for name in ("theta_G", "theta_D"):
        assert np.array_equal(getattr(fused, name), getattr(composed, name))
    updates = {"adam_D": population.base.d_steps, "adam_G": 1}  # each network's, a step
    for name, per_step in updates.items():
        fused_adam, composed_adam = getattr(fused, name), getattr(composed, name)
        assert fused_adam.t == composed_adam.t == steps * per_step, name
        assert np.array_equal(fused_adam.m, composed_adam.m), name
        assert np.array_equal(fused_adam.v, composed_adam.v), name


def test_fused_cpu_step_is_the_composition_of_the_public_kernels():
    # The fused step runs each public kernel's per-GAN body in the same order on the same
    # inputs (and BLAS single-threaded in both), so every value is bit-identical.
    config = dataclasses.replace(SMALL, d_steps=2, generator_loss="minimax")
    population = fast_gan.PopulationConfig.seeded(config, seeds=(1, 2), sigma0s=(0.0, 0.3))
    assert_fused_is_composed(population, steps=2)


def test_init_is_the_reference_init_rounded(backend):
    population = fast_gan.PopulationConfig.seeded(SMALL, seeds=(4, 9), sigma0s=(0.1, 0.2))
    state = fast_gan.init_state(population, backend)
    for p in range(2):
        member = population.member(p)
        assert (member.seed, member.sigma0) == (population.seeds[p], population.sigma0s[p])
        ref = gan.init_state(member)
        assert np.array_equal(device.to_host(state.theta_G)[p], ref.theta_G.astype(np.float32))
        assert np.array_equal(device.to_host(state.theta_D)[p], ref.theta_D.astype(np.float32))


def test_a_diverging_gan_is_named(backend):
    config = dataclasses.replace(SMALL, steps=3)
    population = fast_gan.PopulationConfig.seeded(config, seeds=(1, 2, 3), sigma0s=(0.1, 0.1, 0.1))
    state = fast_gan.init_state(population, backend)
    theta_D = device.to_host(state.theta_D).copy()
    theta_D[1] = np.inf  # GAN 1's discriminator is broken from the start
    state.theta_D[...] = device.to_device(theta_D, backend)
    with pytest.raises(gan.NonFiniteLossError, match="GAN 1 of the population") as error:
        list(fast_gan.train(population, state))
    assert error.value.gans == [1] and error.value.step == 0


def test_train_yields_host_records_per_gan(backend):
    config = dataclasses.replace(SMALL, steps=2, anneal="linear", anneal_steps=2)
    population = fast_gan.PopulationConfig.seeded(config, seeds=(1, 2), sigma0s=(0.2, 0.4))
    records = list(fast_gan.train(population, fast_gan.init_state(population, backend)))
    assert [r["step"] for r in records] == [0, 1]
    for r in records:
        assert all(isinstance(r[name], np.ndarray) and r[name].shape == (2,) for name in RECORD)
    np.testing.assert_array_equal(records[1]["sigma"], np.float32([0.1, 0.2]))  # linear, half


def test_mismatched_seeds_and_sigma0s_are_rejected():
    with pytest.raises(ConfigError, match="sigma0s: expected one per GAN"):
        fast_gan.PopulationConfig.seeded(SMALL, seeds=(1, 2), sigma0s=(0.1,))


def varied_population(base: GANConfig) -> fast_gan.PopulationConfig:
    """Four GANs differing in every PER_GAN option: seed, sigma0, schedule, label noise,
    penalty and its weight."""
    options = [
        dict(seed=3, sigma0=0.0, anneal="none", real_target=1.0, label_flip=0.0),
        dict(seed=4, sigma0=0.3, anneal="linear", anneal_steps=2, label_flip=0.2, penalty="r1",
             gamma=1.0),
        dict(seed=5, sigma0=0.5, anneal="exponential", anneal_steps=3, real_target=0.9,
             penalty="roth", gamma=3.0),
        dict(seed=6, sigma0=0.2, anneal="none", real_target=0.8, label_flip=0.1,
             penalty="r2", gamma=0.5),
    ]  # fmt: skip
    return fast_gan.PopulationConfig(tuple(dataclasses.replace(base, **o) for o in options))


def test_gans_differing_in_schedule_and_label_noise_are_each_their_own_run():
    # The fused CPU step reads every PER_GAN option per GAN: bit for bit the single runs.
    population = varied_population(dataclasses.replace(SMALL, d_steps=2))
    state = fast_gan.init_state(population, "cpu")
    singles = [fast_gan.PopulationConfig((member,)) for member in population.members]
    single_states = [fast_gan.init_state(single, "cpu") for single in singles]
    for step in range(4):
        record, together = fast_gan.train_step(population, state, step)
        for p, (single, single_state) in enumerate(zip(singles, single_states, strict=True)):
            alone_record, alone = fast_gan.train_step(single, single_state, step)
            assert record["sigma"][p] == np.float32(population.member(p).sigma_at(step))
            for name, value in {**alone, **alone_record}.items():
                if name != "step":
                    actual = np.asarray({**together, **record}[name])[p]
                    assert np.array_equal(actual, np.asarray(value)[0]), f"GAN {p} {name}"


def test_a_varied_population_fused_is_its_composition():
    assert_fused_is_composed(varied_population(SMALL), steps=3)


@pytest.mark.parametrize("size", [1, 2])
@pytest.mark.parametrize("penalty", ["none", "r1"])
def test_compiled_looks_for_the_cache_file_of_the_variant_the_run_steps_with(
    size, penalty, monkeypatch
):
    # One cache file per compiled variant (P = 1 or a population, with or without a
    # penalty), and compiled() asks for the one the config's step runs; the penalty tests
    # above check that the variants compute the same bits where they meet (an unpenalised
    # GAN in a penalised population against it alone).
    variants = (fused_step_cpu._threaded_step, fused_step_cpu._population_gan_step)
    paths = {step._cache._cache_file._index_path for v in variants for step in v.values()}
    assert len(paths) == 4
    asked = []
    monkeypatch.setattr(fused_step_cpu.os.path, "exists", lambda path: asked.append(path))
    config = dataclasses.replace(SMALL, penalty=penalty, gamma=0.0 if penalty == "none" else 1.0)
    fused_step_cpu.compiled(fast_gan.PopulationConfig((config,) * size))
    steps = fused_step_cpu._threaded_step if size == 1 else fused_step_cpu._population_gan_step
    assert asked == [steps[penalty != "none"]._cache._cache_file._index_path]


@pytest.mark.parametrize("field", ["d_steps", "lr", "batch", "generator_loss", "dataset"])
def test_a_population_shares_every_option_outside_per_gan(field):
    other = {"d_steps": 2, "lr": 2e-3, "batch": 65, "generator_loss": "minimax",
             "dataset": "grid"}[field]  # fmt: skip
    members = (SMALL, dataclasses.replace(SMALL, seed=1, **{field: other}))
    with pytest.raises(ConfigError, match=f"^{field}: expected one value for the whole"):
        fast_gan.PopulationConfig(members)


def test_a_population_with_varied_label_noise_is_refused_on_the_gpu(monkeypatch):
    # Its GPU loss kernel takes one smoothing and one flip: refused before anything runs,
    # naming the option (checked here with the device answer forced, as no GPU is needed).
    monkeypatch.setattr(fast_gan.device, "resolve", lambda name: "gpu")
    members = (
        dataclasses.replace(m, penalty="none", gamma=0.0) for m in varied_population(SMALL).members
    )
    population = fast_gan.PopulationConfig(tuple(members))
    with pytest.raises(ConfigError, match=r"^real_target: expected one value for a "
                       r"population on the GPU, got \[0.8, 0.9, 1.0\]$"):  # fmt: skip
        fast_gan.init_state(population, "gpu")


def test_a_penalty_is_refused_on_the_gpu_and_auto_picks_the_cpu(monkeypatch):
    # No GPU has run penalty kernels, so none exist: --device gpu is refused before anything
    # runs, naming the option, and auto trains a penalised population on the CPU.
    monkeypatch.setattr(fast_gan.device, "resolve", lambda name: "gpu" if name != "cpu" else "cpu")
    population = varied_population(SMALL)
    with pytest.raises(ConfigError, match=r"^penalty: expected none on the GPU"):
        fast_gan.init_state(population, "gpu")
    assert fast_gan.init_state(population, "auto").device == "cpu"


def test_a_population_sharing_its_label_noise_resolves_to_the_gpu(monkeypatch):
    # Only the label noise must be shared on a GPU: a population whose GANs differ in seed,
    # noise and schedule resolves to it (checked with the device answer forced).
    monkeypatch.setattr(fast_gan.device, "resolve", lambda name: name if name != "auto" else "gpu")
    members = tuple(
        dataclasses.replace(m, penalty="none", gamma=0.0, real_target=0.9, label_flip=0.1)
        for m in varied_population(SMALL).members
    )
    assert fast_gan.resolve_device(fast_gan.PopulationConfig(members), "gpu") == "gpu"
