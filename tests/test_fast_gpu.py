"""Tests of fast/'s GPU path (the CUDA kernels of fast/*.cu and cuBLAS) against the float64
reference: Philox words bit-identical, uniform decisions (label flips, mixture components)
identical, normals within one float32 rounding, every named intermediate of a training step
within a float32 tolerance from the longest reduction it contains, twenty steps, and a
population of P GANs equal to P separate runs.

Marked `gpu` and skipped without CuPy and a CUDA device. The reference runs on float32
inputs cast to float64, so each tolerance measures only the GPU's own float32 arithmetic.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast import data as fast_data
from fast import device
from fast import gan as fast_gan
from fast import loss as fast_loss
from fast import mlp as fast_mlp
from fast import noise as fast_noise
from fast import optim as fast_optim
from reference import data, gan, loss, mlp, noise, optim
from tests.strategies import (
    batch_sizes,
    label_flips,
    label_smoothings,
    mlp_specs,
    populations,
    rng_from,
    seeds,
    sigmas,
    steps,
    streams,
)
from tests.test_noise import PHILOX_KAT
from tests.tolerance import FLOAT32_EPS, FLOAT64_EPS, assert_close, float32_tolerance

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not device.gpu_available(), reason="needs CuPy and a CUDA device"),
]

# A float64 value rounded once to float32 is within half an ulp: FLOAT32_EPS relative
# covers it, plus the double-precision libm differences (a few 2**-52), far below it.
ONE_ROUNDING = FLOAT32_EPS
TINY = float(np.finfo(np.float32).tiny)  # atol where exact zeros may occur


def gpu(array):
    return device.to_device(np.asarray(array), "gpu")


def host(array) -> np.ndarray:
    return device.to_host(array)


def keys_of(seed_list) -> np.ndarray:
    return np.stack([noise.key_from_seed(seed) for seed in seed_list])


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_known_answers_on_the_gpu(counter, key, expected):
    out = fast_noise.philox4x32(gpu(np.array([counter], np.uint32)), np.array(key, np.uint32))
    assert np.array_equal(host(out)[0], np.array(expected, np.uint32))


@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps, stream=streams,
       n=st.integers(1, 1030))  # fmt: skip
def test_words_and_uniforms_are_bit_identical_to_the_reference(seed_list, step, stream, n):
    keys = keys_of(seed_list)
    words = host(fast_noise.random_words(gpu(keys), step, stream, n))
    uniforms = host(fast_noise.uniform(gpu(keys), step, stream, n))
    for p, key in enumerate(keys):
        assert np.array_equal(words[p], noise.random_words(key, step, stream, n))
        assert np.array_equal(uniforms[p], noise.uniform(key, step, stream, n))


@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps, stream=streams,
       n=st.integers(1, 1030))  # fmt: skip
def test_normals_are_the_reference_rounded_once(seed_list, step, stream, n):
    keys = keys_of(seed_list)
    normals = host(fast_noise.normal(gpu(keys), step, stream, (n,)))
    for p, key in enumerate(keys):
        expected = noise.normal(key, step, stream, (n,))
        assert_close("normal", normals[p], expected, atol=TINY, rtol=ONE_ROUNDING)


@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps, stream=streams,
       sigma=sigmas, batch=batch_sizes, dim=st.integers(1, 3))  # fmt: skip
def test_instance_noise_is_the_reference_rounded_once(seed_list, step, stream, sigma, batch, dim):
    keys, P = keys_of(seed_list), len(seed_list)
    x = np.random.default_rng(step % 2**32).standard_normal((P, batch, dim)).astype(np.float32)
    sigmas_ = np.full(P, sigma, dtype=np.float32)
    out = host(fast_noise.add_instance_noise(gpu(x), gpu(sigmas_), gpu(keys), step, stream))
    for p, key in enumerate(keys):
        expected = noise.add_instance_noise(
            x[p].astype(np.float64), float(sigmas_[p]), key, step, stream
        )
        # x + sigma eps is formed in double (error ~ FLOAT64_EPS of the terms), rounded once
        atol = 4 * FLOAT64_EPS * (np.abs(x[p]).max() + 7 * sigma) + TINY  # |eps| < 6.8
        assert_close("x_noisy", out[p], expected, atol=atol, rtol=ONE_ROUNDING)
    if sigma == 0.0:
        assert np.array_equal(out, x)


@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps, batch=batch_sizes,
       dim=st.integers(1, 3), substep=st.integers(0, 2))  # fmt: skip
def test_noisy_discriminator_input_is_both_halves_in_one_buffer(
    seed_list, step, batch, dim, substep
):
    keys, P = gpu(keys_of(seed_list)), len(seed_list)
    rng = np.random.default_rng(batch)
    x_real, x_fake = (gpu(rng.standard_normal((P, batch, dim)).astype(np.float32)) for _ in "rf")
    sigma = gpu(np.linspace(0.0, 1.0, P, dtype=np.float32))
    real = noise.stream_id(noise.Stream.REAL_NOISE, substep)
    fake = noise.stream_id(noise.Stream.FAKE_NOISE, substep)
    both = host(fast_noise.noisy_discriminator_input(x_real, x_fake, sigma, keys, step, real, fake))
    # The same kernel arithmetic per element: identical bits, not just close.
    assert np.array_equal(
        both[:, :batch], host(fast_noise.add_instance_noise(x_real, sigma, keys, step, real))
    )
    assert np.array_equal(
        both[:, batch:], host(fast_noise.add_instance_noise(x_fake, sigma, keys, step, fake))
    )


@pytest.mark.parametrize("name", sorted(data.DATASETS))
@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps,
       substep=st.integers(0, 2), n=st.integers(1, 300))  # fmt: skip
@settings(max_examples=5)  # five datasets: the ci budget is shared among them
def test_samples_are_the_reference_rounded_once(name, seed_list, step, substep, n):
    distribution = data.get_dataset(name)
    keys = keys_of(seed_list)
    out = host(fast_data.sample(distribution, gpu(keys), step, substep, n))
    for p, key in enumerate(keys):
        expected = data.sample(distribution, key, step, substep, n)
        # Same component (decided on the exact uniform), so only the final rounding differs.
        assert_close(name, out[p], expected, atol=TINY, rtol=ONE_ROUNDING)


@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps, batch=batch_sizes,
       smoothing=label_smoothings, flip=label_flips, scale=st.sampled_from((1.0, 100.0, 1e4)),
       substep=st.integers(0, 2))  # fmt: skip
def test_discriminator_loss_flips_the_same_labels_and_rounds_once(
    seed_list, step, batch, smoothing, flip, scale, substep
):
    keys, P = keys_of(seed_list), len(seed_list)
    rng = np.random.default_rng(batch)
    logit_real, logit_fake = ((scale * rng.standard_normal((P, batch))).astype(np.float32)
                              for _ in "rf")  # fmt: skip
    out = fast_loss.discriminator_loss(
        gpu(logit_real), gpu(logit_fake), smoothing, flip, gpu(keys), step, substep
    )
    loss_D, dlogit_real, dlogit_fake = (host(v) for v in out)
    for p, key in enumerate(keys):
        expected = loss.discriminator_loss(
            logit_real[p].astype(np.float64), logit_fake[p].astype(np.float64),
            smoothing, flip, key, step, substep,
        )  # fmt: skip
        # Each term in double, summed in double over 2B <= 14 terms, then rounded once.
        assert_close("loss_D", loss_D[p], expected[0], atol=TINY, rtol=ONE_ROUNDING)
        assert_close("dlogit_real", dlogit_real[p], expected[1], atol=TINY, rtol=ONE_ROUNDING)
        assert_close("dlogit_fake", dlogit_fake[p], expected[2], atol=TINY, rtol=ONE_ROUNDING)


@pytest.mark.parametrize("kind", loss.GENERATOR_LOSSES)
@given(P=populations, batch=batch_sizes, scale=st.sampled_from((1.0, 100.0, 1e4)))
def test_generator_and_logistic_losses_round_once(kind, P, batch, scale):
    rng = np.random.default_rng(batch + 10 * P)
    logit = (scale * rng.standard_normal((P, batch))).astype(np.float32)
    target = rng.uniform(size=(P, batch)).astype(np.float32)
    loss_G, dlogit = (host(v) for v in fast_loss.generator_loss(gpu(logit), kind))
    loss_L, dlogit_L = (host(v) for v in fast_loss.logistic_loss(gpu(logit), gpu(target)))
    for p in range(P):
        l64 = logit[p].astype(np.float64)
        expected = loss.generator_loss(l64, kind)
        assert_close("loss_G", loss_G[p], expected[0], atol=TINY, rtol=ONE_ROUNDING)
        assert_close("dlogit", dlogit[p], expected[1], atol=TINY, rtol=ONE_ROUNDING)
        expected = loss.logistic_loss(l64, target[p].astype(np.float64))
        assert_close("loss", loss_L[p], expected[0], atol=TINY, rtol=ONE_ROUNDING)
        assert_close("dlogit", dlogit_L[p], expected[1], atol=TINY, rtol=ONE_ROUNDING)


@given(spec=mlp_specs(), batch=batch_sizes, P=populations, data_=st.data())
def test_mlp_forward_and_backward_match_the_reference(spec, batch, P, data_):
    rng = rng_from(data_.draw)
    theta = np.stack([mlp.init_params(spec, rng) for _ in range(P)]).astype(np.float32)
    x = rng.standard_normal((P, batch, spec.sizes[0])).astype(np.float32)
    dy = rng.standard_normal((P, batch, spec.sizes[-1])).astype(np.float32)
    y, cache = fast_mlp.forward(spec, gpu(theta), gpu(x))
    dtheta, dx = fast_mlp.backward(spec, gpu(theta), cache, gpu(dy))
    _, dx_only = fast_mlp.backward(spec, gpu(theta), cache, gpu(dy), False)
    n_terms = max(*spec.sizes, batch)
    for p in range(P):
        theta64 = theta[p].astype(np.float64)
        y_ref, cache_ref = mlp.forward(spec, theta64, x[p].astype(np.float64))
        dtheta_ref, dx_ref = mlp.backward(spec, theta64, cache_ref, dy[p].astype(np.float64))
        # activations stay O(1) with init_params' fan-in bound and unit inputs, so the
        # scale of every term is the largest value the reference computes along the way
        scale = 1.0 + max(np.abs(v).max() for v in (y_ref, dtheta_ref, dx_ref, *cache_ref.values()))
        tol = float32_tolerance(n_terms, spec.n_layers) * scale
        assert_close("y", host(y)[p], y_ref, atol=tol, rtol=0.0)
        assert_close("dtheta", host(dtheta)[p], dtheta_ref, atol=tol, rtol=0.0)
        assert_close("dx", host(dx)[p], dx_ref, atol=tol, rtol=0.0)
    assert np.array_equal(host(dx_only), host(dx))  # the same GEMMs, minus the dW ones


@given(P=populations, n=st.integers(1, 700), t=st.integers(0, 50), data_=st.data())
def test_adam_and_sgd_steps_round_the_double_update_once(P, n, t, data_):
    rng = rng_from(data_.draw)
    theta, grad = (rng.standard_normal((P, n)).astype(np.float32) for _ in "tg")
    m = (0.1 * rng.standard_normal((P, n))).astype(np.float32)
    v = (0.1 * np.abs(rng.standard_normal((P, n)))).astype(np.float32)
    theta_gpu = gpu(theta)
    state = fast_optim.AdamState(gpu(m), gpu(v), t)
    fast_optim.adam_step(theta_gpu, gpu(grad), state, 1e-3, 0.5, 0.999)
    sgd_gpu = gpu(theta)
    fast_optim.sgd_step(sgd_gpu, gpu(grad), 0.1)
    for p in range(P):
        expected = theta[p].astype(np.float64)
        ref_state = optim.AdamState(m[p].astype(np.float64), v[p].astype(np.float64), t)
        optim.adam_step(expected, grad[p].astype(np.float64), ref_state, 1e-3, 0.5, 0.999)
        # theta, m, v are each a double expression of float32 inputs, rounded once
        assert_close("theta", host(theta_gpu)[p], expected, atol=TINY, rtol=ONE_ROUNDING)
        assert_close("m", host(state.m)[p], ref_state.m, atol=TINY, rtol=ONE_ROUNDING)
        assert_close("v", host(state.v)[p], ref_state.v, atol=TINY, rtol=ONE_ROUNDING)
        sgd = theta[p].astype(np.float64) - 0.1 * grad[p].astype(np.float64)
        assert_close("sgd", host(sgd_gpu)[p], sgd, atol=TINY, rtol=ONE_ROUNDING)
    assert state.t == t + 1


STANDARD = gan.GANConfig(noise=0.1)  # the benchmark's configuration: batch 256, hidden 128
SMALL = gan.GANConfig(batch=64, hidden=32, noise=0.3, label_flip=0.05, label_smoothing=0.9)


def step_tolerance(config: gan.GANConfig, scale: float) -> float:
    """A step chains three networks' passes; each element is a float32 reduction over at
    most max(2B, H) terms (D's weight gradients sum over the 2B noisy samples)."""
    n_terms = max(2 * config.batch, config.hidden)
    return 4 * float32_tolerance(n_terms) * scale


def assert_step_matches_reference(config, intermediates, p, ref_intermediates):
    for name, expected in ref_intermediates.items():
        expected = np.asarray(expected, dtype=np.float64)
        actual = host(intermediates[name])[p]
        scale = 1.0 + float(np.abs(expected).max(initial=0.0))
        assert_close(name, actual, expected, atol=step_tolerance(config, scale), rtol=0.0)


def reference_from_float32(config: gan.GANConfig) -> gan.GANState:
    """The reference's initial state with its parameters rounded to float32, as the GPU
    starts: what remains to compare is the GPU's own arithmetic."""
    state = gan.init_state(config)
    state.theta_G[...] = state.theta_G.astype(np.float32)
    state.theta_D[...] = state.theta_D.astype(np.float32)
    return state


@pytest.mark.parametrize("config", [STANDARD, SMALL], ids=["standard", "small"])
def test_one_step_matches_the_reference_tensor_by_tensor(config):
    population = fast_gan.PopulationConfig(config, seeds=(config.seed,), noises=(config.noise,))
    state = fast_gan.init_state(population, "gpu")
    assert device.on_gpu(state.theta_G)
    reference_state = reference_from_float32(config)
    step = 7
    record, intermediates = fast_gan.train_step(population, state, step)
    ref_record, ref_intermediates = gan.train_step(config, reference_state, step)
    assert set(intermediates) == set(ref_intermediates)
    assert_step_matches_reference(config, intermediates, 0, ref_intermediates)
    for name in ("loss_D", "loss_G", "D_real", "D_fake"):
        scale = 1.0 + abs(ref_record[name])
        tol = step_tolerance(config, scale)
        assert_close(name, host(record[name])[0], ref_record[name], atol=tol, rtol=0.0)


def test_twenty_steps_track_the_reference():
    config = SMALL
    population = fast_gan.PopulationConfig(config, seeds=(config.seed,), noises=(config.noise,))
    state = fast_gan.init_state(population, "gpu")
    reference_state = reference_from_float32(config)
    for step in range(20):
        record, _ = fast_gan.train_step(population, state, step)
        ref_record, _ = gan.train_step(config, reference_state, step)
        # The losses inherit the rounding of every earlier update: at most 20 times the
        # one-step bound (measured ~1e-5 relative after 20 steps on the CPU path).
        for name in ("loss_D", "loss_G"):
            tol = 20 * step_tolerance(config, 1.0 + abs(ref_record[name]))
            assert_close(f"{name}@{step}", host(record[name])[0], ref_record[name], tol, 0.0)
    # Adam moves a parameter by up to ~lr per step whatever its gradient's size, so a
    # gradient whose sign is at the rounding level can flip an update: a tenth of lr per
    # parameter bounds that over 20 steps (measured 1.6e-5 on the CPU path).
    atol = 0.1 * config.lr
    assert_close("theta_G", host(state.theta_G)[0], reference_state.theta_G, atol, 0.0)
    assert_close("theta_D", host(state.theta_D)[0], reference_state.theta_D, atol, 0.0)


def test_a_population_equals_separate_runs():
    base = SMALL
    seeds_, noises = (3, 11, 2**40 + 1), (0.0, 0.1, 0.5)
    population = fast_gan.PopulationConfig(base, seeds=seeds_, noises=noises)
    state = fast_gan.init_state(population, "gpu")
    singles = [
        fast_gan.PopulationConfig(base, seeds=(seed,), noises=(sigma,))
        for seed, sigma in zip(seeds_, noises, strict=True)
    ]
    single_states = [fast_gan.init_state(single, "gpu") for single in singles]
    for step in range(2):
        _, intermediates = fast_gan.train_step(population, state, step)
        for p, (single, single_state) in enumerate(zip(singles, single_states, strict=True)):
            _, alone = fast_gan.train_step(single, single_state, step)
            # cuBLAS may pick another GEMM algorithm for another batch count, so the sums
            # may be ordered differently: the one-step float32 bound, not bit equality.
            for name, value in alone.items():
                expected = host(value)[0].astype(np.float64)
                scale = 1.0 + float(np.abs(expected).max(initial=0.0))
                atol = step_tolerance(base, scale)
                assert_close(name, host(intermediates[name])[p], expected, atol=atol, rtol=0)


@pytest.mark.parametrize("use_graph", [False, True], ids=["eager", "graph"])
def test_graph_step_replays_train_step(use_graph):
    # The same kernels and GEMMs on the same inputs, with the step and Adam's corrections
    # read from device memory. Expected bit for bit, but cuBLAS only promises that on one
    # stream and GraphStep runs on its own: so the one-step float32 bound, which a wrong
    # step word (other noise: O(1) off) or correction (lr-sized) would still break by far.
    # Annealing changes sigma at every step; two D substeps exercise the per-update
    # corrections.
    base = gan.GANConfig(batch=64, hidden=32, noise=0.3, anneal="linear", anneal_steps=4,
                         label_flip=0.05, d_steps=2)  # fmt: skip
    population = fast_gan.PopulationConfig(base, seeds=(5, 6), noises=(0.3, 0.0))
    plain, replayed = (fast_gan.init_state(population, "gpu") for _ in "pr")
    graph_step = fast_gan.GraphStep(population, replayed, use_graph=use_graph)
    for step in range(4):
        record, intermediates = fast_gan.train_step(population, plain, step)
        graph_record, graph_intermediates = graph_step(step)
        assert set(graph_intermediates) == set(intermediates)
        for name, value in {**intermediates, **record}.items():
            if name == "step":
                continue
            expected = host(value).astype(np.float64)
            actual = host({**graph_intermediates, **graph_record}[name])
            atol = step_tolerance(base, 1.0 + float(np.abs(expected).max(initial=0.0)))
            assert_close(f"{name}@{step}", actual, expected, atol=atol, rtol=0.0)
    assert use_graph == (graph_step.graph is not None), "capture failed: see the printed reason"
    atol = step_tolerance(base, 1.0)  # |theta| < 1 from init_params' bound
    assert_close("theta_G", host(replayed.theta_G), host(plain.theta_G), atol=atol, rtol=0.0)
    assert_close("theta_D", host(replayed.theta_D), host(plain.theta_D), atol=atol, rtol=0.0)
    assert (replayed.adam_D.t, replayed.adam_G.t) == (plain.adam_D.t, plain.adam_G.t) == (8, 4)
