"""Tests of reference/gan.py: the whole-step gradients in the named intermediates equal
central differences of the losses rebuilt from the reference pieces (noise, samples and
targets are pure functions of (seed, step, stream), so rebuilding reproduces them); sigma = 0
is exactly the noiseless path; the training loop stops on a non-finite loss; GANConfig
rejects every invalid setting with an error that names the field (Adam's betas below 1, sigma0
and gamma at most what float32 training holds), and accepts the defaults and the edges of
each range; and two golden trajectories guard against silent drift."""

import copy
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reference import data, gan, loss, mlp, noise, penalty, philox
from reference.config import MAX_GAMMA, MAX_SIGMA0, MAX_STEPS, ConfigError, GANConfig
from reference.philox import Stream, SubstepRandom
from tests.strategies import generator_loss_kinds, label_flips, label_smoothings, seeds
from tests.test_mlp import (
    FD_RTOL,
    KINK_MARGIN,
    central_difference,
    kink_distance,
    rounding_band,
    terms_scale,
)
from tests.test_penalty import penalty_scale
from tests.tolerance import assert_close


@st.composite
def tiny_configs(draw) -> GANConfig:
    kind = draw(st.sampled_from(penalty.PENALTIES))
    return GANConfig(
        dataset=draw(st.sampled_from(("ring", "grid", "ring3d"))),
        steps=1,
        batch=draw(st.integers(2, 4)),
        hidden=draw(st.integers(3, 5)),
        latent=2,
        d_steps=draw(st.integers(1, 2)),
        sigma0=draw(st.sampled_from((0.0, 0.1, 0.5))),
        real_target=draw(label_smoothings),
        label_flip=draw(label_flips),
        penalty=kind,
        gamma=0.0 if kind == "none" else draw(st.sampled_from((0.1, 1.0))),
        generator_loss=draw(generator_loss_kinds),
        seed=draw(seeds),
    )


def check_discriminator_substep(config, state, out, step, substep):
    """d{substep}/ gradients against central differences of loss_D(theta_D), penalty
    included, the state being the one the substep starts from (noise, samples and targets
    held fixed)."""
    key, sigma, batch = philox.key_from_seed(config.seed), config.sigma_at(step), config.batch
    spec_D, theta_D, prefix = config.discriminator_spec(), state.theta_D, f"d{substep}/"
    rng = SubstepRandom(key, step, substep)
    x_real = data.sample(data.get_dataset(config.dataset), rng, batch)
    _, x_fake = gan.generate(config, state.theta_G, rng, batch)
    x_real_noisy = noise.add_instance_noise(x_real, sigma, rng, Stream.REAL_NOISE)
    x_fake_noisy = noise.add_instance_noise(x_fake, sigma, rng, Stream.FAKE_NOISE)
    assert np.array_equal(out[prefix + "x_real_noisy"], x_real_noisy)
    assert np.array_equal(out[prefix + "x_fake_noisy"], x_fake_noisy)
    x_D = np.concatenate([x_real_noisy, x_fake_noisy])
    targets = noise.label_noise_targets(batch, config.real_target, config.label_flip, rng)

    gamma = config.gamma_at(step)

    def loss_D():
        logit, cache = mlp.forward(spec_D, theta_D, x_D)
        value = loss.discriminator_loss(logit[:batch, 0], logit[batch:, 0], *targets)[0]
        if config.penalty == "none":
            return value
        kind = config.penalty
        return value + penalty.penalty(spec_D, theta_D, cache, logit[:, 0], batch, kind, gamma)[0]

    logit_D, cache_D = mlp.forward(spec_D, theta_D, x_D)
    assume(kink_distance(spec_D, cache_D) > KINK_MARGIN)
    assert out[prefix + "loss_D"] == loss_D()  # the same operations in the same order
    numeric = central_difference(loss_D, theta_D)
    scale = terms_scale(cache_D)
    if config.penalty != "none":  # tests/test_penalty.py's band for the penalty's terms
        scale *= 1.0 + penalty_scale(spec_D, theta_D, cache_D, logit_D[:, 0], batch,
                                     config.penalty, gamma)  # fmt: skip
    atol = rounding_band(scale)
    for name, expected in mlp.named_parameters(spec_D, numeric, prefix + "d", "_D").items():
        assert_close(name, out[name], expected, atol, FD_RTOL)


def check_generator_substep(config, state, out, step):
    """g/ gradients against central differences of loss_G with respect to theta_G and to
    the noisy fakes, through the discriminator as the D substeps left it."""
    key, sigma, substep = philox.key_from_seed(config.seed), config.sigma_at(step), config.d_steps
    spec_G, spec_D, theta_G = config.generator_spec(), config.discriminator_spec(), state.theta_G
    rng = SubstepRandom(key, step, substep)
    z = rng.normal(Stream.LATENT, (config.batch, config.latent))

    def fakes():
        x_fake, cache_G = mlp.forward(spec_G, theta_G, z)
        return noise.add_instance_noise(x_fake, sigma, rng, Stream.FAKE_NOISE), cache_G

    def loss_G_of(x_fake_noisy):
        logit = mlp.forward(spec_D, state.theta_D, x_fake_noisy)[0][:, 0]
        return loss.generator_loss(logit, config.generator_loss)[0]

    x_fake_noisy, cache_G = fakes()
    _, cache_DG = mlp.forward(spec_D, state.theta_D, x_fake_noisy)
    assume(kink_distance(spec_G, cache_G) > KINK_MARGIN)
    assume(kink_distance(spec_D, cache_DG) > KINK_MARGIN)
    assert np.array_equal(out["g/x_fake_noisy"], x_fake_noisy)
    assert out["g/loss_G"] == loss_G_of(x_fake_noisy)
    atol = rounding_band(terms_scale(cache_G, cache_DG))
    numeric_dx = central_difference(lambda: loss_G_of(x_fake_noisy), x_fake_noisy)
    assert_close("g/dx_fake", out["g/dx_fake"], numeric_dx, atol, FD_RTOL)
    numeric = central_difference(lambda: loss_G_of(fakes()[0]), theta_G)
    for name, expected in mlp.named_parameters(spec_G, numeric, "g/d", "_G").items():
        assert_close(name, out[name], expected, atol, FD_RTOL)


@given(config=tiny_configs(), step=st.integers(0, 1000))
def test_step_gradients_match_central_differences_of_the_losses(config, step):
    state = gan.init_state(config)
    replay = copy.deepcopy(state)
    _, out = gan.train_step(config, state, step)
    # Replay the step substep by substep, checking each from the state it started from.
    key, sigma, gamma = (
        philox.key_from_seed(config.seed),
        config.sigma_at(step),
        config.gamma_at(step),
    )
    for substep in range(config.d_steps):
        check_discriminator_substep(config, replay, out, step, substep)
        rng = SubstepRandom(key, step, substep)
        gan.discriminator_substep(config, replay, rng, sigma, gamma)
    assert np.array_equal(replay.theta_D, state.theta_D)
    check_generator_substep(config, replay, out, step)


def identity_noise(x, sigma, rng, kind):
    """add_instance_noise without the noise: what a GAN without instance noise computes."""
    return x


@given(config=tiny_configs(), step=st.integers(0, 1000))
def test_sigma_zero_is_exactly_the_noiseless_path(config, step):
    config = dataclasses.replace(config, sigma0=0.0)
    noisy_state, plain_state = gan.init_state(config), gan.init_state(config)
    record, out = gan.train_step(config, noisy_state, step)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(noise, "add_instance_noise", identity_noise)
        plain_record, plain_out = gan.train_step(config, plain_state, step)
    assert record == plain_record
    assert out.keys() == plain_out.keys()
    for name, value in out.items():
        assert np.array_equal(value, plain_out[name]), name
    for field in ("theta_G", "theta_D"):
        assert np.array_equal(getattr(noisy_state, field), getattr(plain_state, field))


@given(config=tiny_configs(), step=st.integers(1, 1000))
def test_a_penalty_annealed_to_zero_is_exactly_the_unpenalised_path(config, step):
    # Linear annealing over one step leaves gamma (and sigma) 0 from step 1 on.
    plain = dataclasses.replace(config, penalty="none", gamma=0.0, anneal="linear",
                                anneal_steps=1)  # fmt: skip
    record, out = gan.train_step(plain, state := gan.init_state(plain), step)
    for kind in penalty.PENALTIES[1:]:
        annealed = dataclasses.replace(plain, penalty=kind, gamma=1.0)
        assert annealed.gamma_at(step) == 0.0
        record_0, out_0 = gan.train_step(annealed, state_0 := gan.init_state(plain), step)
        assert record_0 == record
        for name, value in out.items():  # adding exact zeros changes no bit
            assert np.array_equal(out_0[name], value), name
        assert np.array_equal(state_0.theta_D, state.theta_D)


def test_train_raises_at_the_first_non_finite_loss():
    config = GANConfig(steps=5, batch=4, hidden=3, latent=2)
    real_loss, calls = loss.generator_loss, []

    def nan_at_step_2(logit, kind):  # one generator substep per step, so call 3 is step 2
        value, dlogit = real_loss(logit, kind)
        calls.append(kind)
        return (np.nan if len(calls) == 3 else value), dlogit

    seen = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loss, "generator_loss", nan_at_step_2)
        with pytest.raises(gan.NonFiniteLossError, match="step 2") as error:
            seen.extend(record["step"] for record in gan.train(config, gan.init_state(config)))
    assert seen == [0, 1] and error.value.step == 2 and np.isnan(error.value.record["loss_G"])


# One value of each kind GANConfig must refuse: out of range, on an open end, not finite, of
# the wrong type (a bool is no count, a float no step count), or not among the choices. Adam's
# betas stop short of 1 (beta2 = 1 makes its bias correction 1 - beta2^t zero, and every update
# divides by it); sigma0 and gamma stop at what float32 training holds (reference/config.py).
INVALID_SETTINGS = [
    ("dataset", "nope"),
    ("steps", 0), ("steps", MAX_STEPS + 1), ("steps", 2.5), ("steps", True),
    ("batch", 0), ("hidden", 0), ("latent", -1),
    ("lr", 0.0), ("lr", -1e-3), ("lr", float("inf")),
    ("beta1", 1.0), ("beta1", -0.1), ("beta2", 1.0), ("beta2", -0.1), ("beta2", float("nan")),
    ("d_steps", 0),
    ("sigma0", float("nan")), ("sigma0", -0.1), ("sigma0", float("inf")),
    ("sigma0", math.nextafter(MAX_SIGMA0, math.inf)), ("sigma0", 1e30),
    ("anneal", "cosine"), ("anneal_steps", 0),
    ("real_target", 0.0), ("real_target", 1.5),
    ("label_flip", 1.5), ("label_flip", -0.01),
    ("penalty", "wgan-gp"), ("gamma", -1.0), ("gamma", float("nan")), ("gamma", 0.1),
    ("gamma", 1e30),
    ("generator_loss", "wasserstein"),
    ("seed", -1), ("seed", 2**64),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), INVALID_SETTINGS)
def test_config_rejects_an_invalid_value_naming_the_field(field, value):
    for make in (
        lambda: GANConfig(**{field: value}),
        lambda: dataclasses.replace(GANConfig(), **{field: value}),
    ):
        with pytest.raises(ConfigError) as error:
            make()
        assert isinstance(error.value, ValueError)  # callers that catch ValueError still do
        assert error.value.field == field
        message = str(error.value)
        assert message.startswith(f"{field}: expected "), message
        assert message.endswith(f"got {value!r}"), message


# The edges of every range that a run may use: each must be accepted.
VALID_EDGES = [
    ("steps", 1), ("steps", MAX_STEPS), ("steps", np.int64(10)),
    ("batch", 1), ("hidden", 1), ("latent", 1), ("lr", 1e-12),
    ("beta1", 0.0), ("beta1", 0.999), ("beta1", math.nextafter(1.0, 0.0)), ("beta2", 0.0),
    ("beta2", math.nextafter(1.0, 0.0)),
    ("d_steps", 1), ("d_steps", 2**20),
    ("sigma0", 0.0), ("sigma0", MAX_SIGMA0), ("anneal_steps", 1), ("anneal_steps", MAX_STEPS),
    ("real_target", 1e-6), ("real_target", 1.0),
    ("label_flip", 0.0), ("label_flip", 1.0),
    ("seed", 0), ("seed", 2**64 - 1),
    *[("dataset", name) for name in data.TOYS],
    *[("anneal", name) for name in noise.ANNEAL_SCHEDULES],
    *[("generator_loss", name) for name in loss.GENERATOR_LOSSES],
    ("penalty", "none"), ("gamma", 0.0),
]  # fmt: skip


def test_config_accepts_the_defaults_and_the_edges_of_every_range():
    defaults = GANConfig()
    assert defaults.sigma0 == 0.0 and defaults.steps <= MAX_STEPS
    for field, value in VALID_EDGES:
        assert getattr(GANConfig(**{field: value}), field) == value
    for kind in penalty.PENALTIES[1:]:  # a penalty with the smallest and the largest weight
        assert GANConfig(penalty=kind, gamma=5e-324).penalty == kind
        assert GANConfig(penalty=kind, gamma=MAX_GAMMA).gamma == MAX_GAMMA


@pytest.mark.parametrize(("field", "bound"), [("sigma0", MAX_SIGMA0), ("gamma", MAX_GAMMA)])
def test_sigma0_and_gamma_stop_at_what_float32_training_holds(field, bound):
    assert bound == 1e3  # reference/config.py derives it
    above = math.nextafter(bound, math.inf)
    with pytest.raises(ConfigError) as error:
        GANConfig(**{field: above, "penalty": "r1" if field == "gamma" else "none"})
    assert str(error.value) == f"{field}: expected a number in [0, 1000], got {above!r}"


def test_a_penalty_needs_a_weight():
    with pytest.raises(ConfigError, match=r"^gamma: expected 0 without a penalty, > 0 "
                       r"with one, got 0.0$"):  # fmt: skip
        GANConfig(penalty="r1")


def test_init_state_draws_generator_then_discriminator_from_the_seed():
    config = GANConfig(hidden=4, latent=3, seed=12)
    state = gan.init_state(config)
    rng = np.random.default_rng(12)
    assert np.array_equal(state.theta_G, mlp.init_params(config.generator_spec(), rng))
    assert np.array_equal(state.theta_D, mlp.init_params(config.discriminator_spec(), rng))
    assert state.adam_G.t == state.adam_D.t == 0


def test_intermediates_name_every_substep_and_gradient():
    config = GANConfig(dataset="ring3d", batch=3, hidden=4, latent=2, d_steps=2, sigma0=0.2)
    record, out = gan.train_step(config, gan.init_state(config), 0)
    spec_D, spec_G = config.discriminator_spec(), config.generator_spec()
    zeros_D, zeros_G = np.zeros(spec_D.n_params), np.zeros(spec_G.n_params)
    for s in (0, 1):
        assert set(mlp.named_parameters(spec_D, zeros_D, f"d{s}/d", "_D")) < set(out)
        assert out[f"d{s}/x_real_noisy"].shape == out[f"d{s}/x_fake_noisy"].shape == (3, 3)
        assert out[f"d{s}/logit_real"].shape == out[f"d{s}/logit_fake"].shape == (3,)
    assert set(mlp.named_parameters(spec_G, zeros_G, "g/d", "_G")) < set(out)
    assert out["g/dx_fake"].shape == (3, 3) and out["g/z"].shape == (3, 2)
    # The record reports the last discriminator substep and the generator substep.
    assert record["loss_D"] == out["d1/loss_D"] and record["loss_G"] == out["g/loss_G"]
    assert record["D_real"] == np.mean(loss.sigmoid(out["d1/logit_real"]))


# Golden trajectories: the losses of each configuration's first 10 steps, as
#     [(r["loss_D"], r["loss_G"]) for r in gan.train(config, gan.init_state(config))]
# gives them, printed with repr. They guard the reference's arithmetic against silent
# drift: a change to the data, noise, label noise, schedules, penalties, losses, backward
# or Adam moves them. A 1-ulp perturbation of the initial parameters moves these losses by
# < 4e-16 relative after 10 steps, so 1e-12 leaves room for a different BLAS reduction
# order on another machine while catching any change to the algorithm.
GOLDEN = {
    "plain": (
        GANConfig(steps=10, batch=16, hidden=8, latent=2, sigma0=0.1, seed=0),
        [0.7195531538557776, 0.7202445034793503, 0.7244567339698422, 0.7276737071732489,
         0.7272293567408146, 0.7256037632000478, 0.7117785830574486, 0.7165489522070672,
         0.7179341342086762, 0.7270308536162947],
        [0.6452408124495967, 0.6542361171654824, 0.6515666937857711, 0.6479895491012944,
         0.646581682728502, 0.6498526352053928, 0.6487705991985662, 0.6473865247450528,
         0.6522258360611652, 0.6505365736604318],
    ),
    "label_noise_anneal_two_d_steps": (
        GANConfig(
            dataset="grid", steps=10, batch=16, hidden=8, latent=2, sigma0=0.5, anneal="linear",
            anneal_steps=8, real_target=0.9, label_flip=0.1, d_steps=2,
            generator_loss="minimax", seed=3,
        ),
        [0.6991878372308903, 0.672513184062556, 0.7017466928980596, 0.635394299289764,
         0.6524144151105542, 0.6872347566436775, 0.6525813742238413, 0.7031897435862726,
         0.6739192734573849, 0.6447619577070767],
        [-0.6436743798644813, -0.6296439769549204, -0.6315872260792308, -0.628931519831962,
         -0.6299032507709873, -0.6233322686984076, -0.63220030883263, -0.6220823525160357,
         -0.6196912671864252, -0.6175977133892088],
    ),
    # the penalties: Roth's, on an annealed sigma and gamma, and R1 below
    "roth_penalty_noise_circle": (
        GANConfig(
            dataset="circle", steps=10, batch=16, hidden=8, latent=2, sigma0=0.1,
            penalty="roth", gamma=0.5, anneal="exponential", anneal_steps=10, d_steps=2, seed=7,
        ),
        [0.7011951355866993, 0.6795904627589597, 0.680932968774807, 0.6853879416795573,
         0.6772421393980232, 0.6729628799496427, 0.664861182515852, 0.6736101391045487,
         0.6687111657660214, 0.6816079506859262],
        [0.8781819178506391, 0.8770144893717655, 0.8742528313642666, 0.8715835818746689,
         0.8691141682967892, 0.867691347972608, 0.8656321597431282, 0.8620470039091035,
         0.859408805211108, 0.8581996475746977],
    ),
    "r1_penalty": (
        GANConfig(steps=10, batch=16, hidden=8, latent=2, penalty="r1", gamma=1.0, seed=1),
        [0.711881287803202, 0.7065866374678187, 0.7058359406253909, 0.7047774787582274,
         0.7050011760594274, 0.7056094123508037, 0.7030483575299059, 0.7054523040252387,
         0.7056142004961986, 0.7043515023320087],
        [0.6193835453738373, 0.6205600143290204, 0.6213581536747472, 0.6229109377143648,
         0.6239219989032639, 0.6252139715892665, 0.6263391860090908, 0.627305024408873,
         0.6283280695132564, 0.6300160055391394],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_trajectory(name):
    config, loss_D, loss_G = GOLDEN[name]
    records = list(gan.train(config, gan.init_state(config)))
    assert [r["step"] for r in records] == list(range(10))
    assert [r["sigma"] for r in records] == [config.sigma_at(step) for step in range(10)]
    assert_close("loss_D", [r["loss_D"] for r in records], loss_D, 1e-12, 1e-12)
    assert_close("loss_G", [r["loss_G"] for r in records], loss_G, 1e-12, 1e-12)
