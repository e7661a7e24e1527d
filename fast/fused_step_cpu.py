"""The training step on the CPU as one Numba call per GAN.

fast/gan.py's step (the composition of the public kernels) pays about twenty kernel launches
and their Python per step, which at P = 1 is a large part of the step. Here the same stages
run inside one compiled call per GAN. In a population every stage of every substep of GAN p
runs on one thread, the process's threads taking the GANs one at a time (each thread's BLAS
single-threaded: _population_step); a single GAN runs its device.SHARES parts (its rows'
random numbers and passes, its backward's two products, Adam's halves) on as many threads,
ThreadChoice permitting. Each stage is the per-GAN body (`*_one`, or its part) of the public
kernel it stands for, so the arithmetic is theirs, element for element, and the bits are
identical (tests/test_fast_gan.py), on any number of threads.

The kernel's arguments are NamedTuples of arrays, with a leading population axis P and,
for the discriminator's buffers, a substep axis S = d_steps:

    Inputs         the step, sigma and gamma (P,), the keys (P, 2), Adam's bias corrections
    Networks       theta_G, theta_D and Adam's m, v for each      (P, n_params_*)
    DBuffers       x_real, z, x_fake (P, S, B * dim | B * Z), x_noisy (P, S, 2B * dim),
                   logits, dlogits (P, S, 2B), dtheta_D (P, S, n_params_D)
    GBuffers       z, x_fake, x_fake_noisy, logits, dlogits, dx_fake, dtheta_G
    Results        float64 scalars: loss_D, penalty_D (P, S), loss_G, D_real, D_fake (P,)
    Scratch        per-GAN work space, made once per state and reused
    Tables         what depends only on the configuration: the data sampler, the networks'
                   layouts, and Settings (the stream words and the hyperparameters)

They come one level deep, Tables' members one by one: a parallel loop takes NamedTuples of
arrays that are arguments of the function holding it, not tuples of tuples (Numba 0.68's
parfor lowering looks a NamedTuple's class up at its definition, and its array analysis
fails on a nested one).

A GAN with a gradient penalty runs fast/penalty.py's two halves around D's backward. The
step is compiled in two variants, with those halves and without: a run without a penalty
compiles only the second, 3 s less on its first run (python -m bench.compile, with and
without --penalty r1).

`train_step(config, state, step)` returns fast.gan.train_step's (record, intermediates):
the intermediates name the buffers' views by fast/gan.py's table, formed on first access.
"""

import functools
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

# fast.gan imports this module for its train_step, and this one reads fast.gan's records
# and names at call time only, so either may be imported first.
from fast import data, device, gan, loss, mlp, noise, optim, penalty, philox
from reference.data import get_dataset
from reference.penalty import NONE
from reference.philox import Stream, stream_id

# The columns of Tables.streams, one per kind of randomness (the Stream order).
_CHOICE, _OFFSET, _LATENT = int(Stream.DATA_CHOICE), int(Stream.DATA_OFFSET), int(Stream.LATENT)
_REAL, _FAKE, _FLIP = int(Stream.REAL_NOISE), int(Stream.FAKE_NOISE), int(Stream.LABEL_FLIP)


class Inputs(NamedTuple):
    step: int
    sigma: np.ndarray  # (P,) float32
    gamma: np.ndarray  # (P,) float32: the penalty's weight
    keys: np.ndarray  # (P, 2) uint32
    corrections: np.ndarray  # (S + 1, 2) float64: Adam's bias corrections of each update


class Networks(NamedTuple):
    theta_G: np.ndarray
    theta_D: np.ndarray
    m_G: np.ndarray
    v_G: np.ndarray
    m_D: np.ndarray
    v_D: np.ndarray


class DBuffers(NamedTuple):
    x_real: np.ndarray
    z: np.ndarray
    x_fake: np.ndarray
    x_noisy: np.ndarray  # the real samples' noisy rows, then the fake ones'
    logits: np.ndarray
    dlogits: np.ndarray
    dtheta_D: np.ndarray


class GBuffers(NamedTuple):
    z: np.ndarray
    x_fake: np.ndarray
    x_fake_noisy: np.ndarray
    logits: np.ndarray
    dlogits: np.ndarray
    dx_fake: np.ndarray
    dtheta_G: np.ndarray


class Results(NamedTuple):
    """The step's scalars, float64 as the kernels form them."""

    loss_D: np.ndarray  # (P, S): D's logistic loss in each substep
    penalty_D: np.ndarray  # (P, S): the penalty in each substep (0 without one)
    loss_G: np.ndarray  # (P,)
    D_real: np.ndarray  # (P,): the mean D(x) on the last substep's noisy real samples
    D_fake: np.ndarray  # (P,): on its noisy fake samples


class Scratch(NamedTuple):
    component: np.ndarray  # (P, B) int64: the data sampler's mixture components
    acts_G: np.ndarray  # (P, B * hidden widths): G's hidden outputs
    acts_D: np.ndarray  # (P, 2B * hidden widths): D's
    dx: np.ndarray  # (P, 2B * dim): D's input gradient in a D substep (not needed)
    dz: np.ndarray  # (P, B * Z): G's input gradient (not needed)
    unused_dtheta_D: np.ndarray  # (P, n_params_D): the G substep needs no D gradients
    work: np.ndarray  # (P, mlp.backward_work)
    target_G: np.ndarray  # (P, B): the generator loss's constant target
    # fast/penalty.py's, (P, 0) when no GAN has a penalty
    tangent: np.ndarray  # (P, 2B * hidden widths)
    gbar: np.ndarray  # (P, 2B * dim)
    dweight: np.ndarray  # (P, the largest n_in * n_out of D)


class Settings(NamedTuple):
    streams: np.ndarray  # (S + 1, len(Stream)): the stream word of each kind in substep s
    real_target: np.ndarray  # (P,): each GAN's (a PER_GAN option of fast/gan.py)
    label_flip: np.ndarray  # (P,)
    penalty: np.ndarray  # (P,) int64: each GAN's penalty's code (reference/penalty.py)
    generator_sign: float
    lr: float
    beta1: float
    beta2: float
    eps: float
    act_G: int
    act_D: int


class Tables(NamedTuple):
    """What depends only on the configuration: the kernel's last arguments, one by one."""

    sampler: data.Sampler
    layout_G: mlp.Layout
    layout_D2: mlp.Layout  # D on the 2B samples of a D substep
    layout_D1: mlp.Layout  # D on the B samples of the G substep
    settings: Settings


def _gan_step_of(penalised: bool):
    """GAN p's step as a Python function for Numba, with a gradient penalty's passes only
    when `penalised`. To Numba the closure's `penalised` is a constant, and it prunes the
    branches that test it: a run without a penalty does not compile the penalty's passes."""

    def gan_step(p, inputs, nets, d, g, results, scratch, sampler, layout_G, layout_D2,
                 layout_D1, settings):  # fmt: skip
        """GAN p's whole step into its rows of the step's buffers: its rows' random numbers
        and the networks' passes, and Adam, in device.SHARES parts (the prange loops,
        parallel in the threaded step), the losses and a penalty's passes on the calling
        thread."""
        step, corrections = inputs.step, inputs.corrections
        theta_G, theta_D = nets.theta_G[p], nets.theta_D[p]
        k0, k1, sigma_p = inputs.keys[p, 0], inputs.keys[p, 1], np.float64(inputs.sigma[p])
        streams = settings.streams
        Z, dim = layout_G.sizes[0], layout_D2.sizes[0]
        S, B = d.x_real.shape[1], g.logits.shape[1]
        component, acts_G, acts_D, work = (
            scratch.component[p], scratch.acts_G[p], scratch.acts_D[p], scratch.work[p]
        )  # fmt: skip
        for s in range(S):
            x_real, z, x_fake = d.x_real[p, s], d.z[p, s], d.x_fake[p, s]
            x_noisy, logits, dlogits, dtheta_D = d.x_noisy[p, s], d.logits[p, s], d.dlogits[p, s], \
                d.dtheta_D[p, s]  # fmt: skip
            for part in prange(device.SHARES):  # a part's rows, from their random numbers on
                first, stop = device.share(B, part)
                data.sample_one(x_real.reshape(B, dim), component, sampler, k0, k1, step,
                                streams[s, _CHOICE], streams[s, _OFFSET], first, stop)  # fmt: skip
                philox.normal_one(z, k0, k1, step, streams[s, _LATENT], first * Z, stop * Z)
                mlp.forward_rows(theta_G, z.reshape(B, Z), acts_G, x_fake.reshape(B, dim),
                                 layout_G, settings.act_G, part)  # fmt: skip
                # instance noise on real then fake, straight into D's (2B, dim) input
                noise.instance_noise_one(x_noisy[: B * dim], x_real, sigma_p, k0, k1, step,
                                         streams[s, _REAL], first * dim, stop * dim)  # fmt: skip
                noise.instance_noise_one(x_noisy[B * dim :], x_fake, sigma_p, k0, k1, step,
                                         streams[s, _FAKE], first * dim, stop * dim)  # fmt: skip
            x_in = x_noisy.reshape(2 * B, dim)
            mlp.forward_one(theta_D, x_in, acts_D, logits.reshape(2 * B, 1), layout_D2,
                            settings.act_D)  # fmt: skip
            # D_real and D_fake: the last substep's stay
            results.loss_D[p, s], results.D_real[p], results.D_fake[p] = (
                loss.discriminator_loss_one(logits, dlogits, settings.real_target[p],
                                            settings.label_flip[p], k0, k1, step,
                                            streams[s, _FLIP])
            )  # fmt: skip
            kind = settings.penalty[p]
            # Roth's term joins dlogits before D's backward, as in the reference
            if penalised and kind != NONE:
                results.penalty_D[p, s] = penalty.penalty_forward_one(
                    theta_D, acts_D, logits, dlogits, kind, inputs.gamma[p], layout_D2,
                    settings.act_D, scratch.tangent[p], scratch.gbar[p],
                )  # fmt: skip
            mlp.backward_one(theta_D, x_in, acts_D, dlogits.reshape(2 * B, 1), dtheta_D,
                             scratch.dx[p].reshape(2 * B, dim), layout_D2, settings.act_D, True,
                             work)  # fmt: skip
            if penalised and kind != NONE:
                penalty.penalty_backward_one(theta_D, acts_D, kind, 2 * B, layout_D2,
                                             settings.act_D, scratch.tangent[p], scratch.gbar[p],
                                             dtheta_D, work, scratch.dweight[p])  # fmt: skip
            optim.adam_one(theta_D, dtheta_D, nets.m_D[p], nets.v_D[p], settings.lr,
                           settings.beta1, settings.beta2, settings.eps, corrections[s, 0],
                           corrections[s, 1])  # fmt: skip
        z, x_fake, x_fake_noisy = g.z[p], g.x_fake[p], g.x_fake_noisy[p]
        for part in prange(device.SHARES):
            first, stop = device.share(B, part)
            philox.normal_one(z, k0, k1, step, streams[S, _LATENT], first * Z, stop * Z)
            mlp.forward_rows(theta_G, z.reshape(B, Z), acts_G, x_fake.reshape(B, dim), layout_G,
                             settings.act_G, part)  # fmt: skip
            noise.instance_noise_one(x_fake_noisy, x_fake, sigma_p, k0, k1, step, streams[S, _FAKE],
                                     first * dim, stop * dim)  # fmt: skip
        x_in = x_fake_noisy.reshape(B, dim)
        mlp.forward_one(theta_D, x_in, acts_D, g.logits[p].reshape(B, 1), layout_D1,
                        settings.act_D)  # fmt: skip
        loss_G = loss.logistic_one(g.logits[p], scratch.target_G[p], g.dlogits[p],
                                   settings.generator_sign)  # fmt: skip
        # D's weight gradients are not needed here: only its input gradient reaches G.
        mlp.backward_one(theta_D, x_in, acts_D, g.dlogits[p].reshape(B, 1),
                         scratch.unused_dtheta_D[p], g.dx_fake[p].reshape(B, dim), layout_D1,
                         settings.act_D, False, work)  # fmt: skip
        mlp.backward_one(theta_G, z.reshape(B, Z), acts_G, g.dx_fake[p].reshape(B, dim),
                         g.dtheta_G[p], scratch.dz[p].reshape(B, Z), layout_G, settings.act_G,
                         True, work)  # fmt: skip
        optim.adam_one(theta_G, g.dtheta_G[p], nets.m_G[p], nets.v_G[p], settings.lr,
                       settings.beta1, settings.beta2, settings.eps, corrections[S, 0],
                       corrections[S, 1])  # fmt: skip
        # Stored last: Numba's parallel compile (Numba 0.68) dropped this store when it stood
        # before the backward's parallel loops, for a reason not found (the D substep's stores,
        # inside the substep loop, are kept); tests/test_fast_gan.py checks every result.
        results.loss_G[p] = loss_G

    return _named(gan_step, penalised)


def _named(function, penalised: bool):
    """function, its qualified name marked with its variant: Numba names a cache file by
    that name, and `compiled` tells whether a variant's file is there."""
    function.__qualname__ += "_penalised" if penalised else "_plain"
    return function


# GAN p's step without and with the penalty's passes, each as a plain function (what each of
# a population's threads runs) and as the whole of a P = 1 step, its parts on Numba's
# threads (the same calls, so the same bits).
_plain_one, _plain_threaded = device.compiled_twice(_gan_step_of(penalised=False))
_penalised_one, _penalised_threaded = device.compiled_twice(_gan_step_of(penalised=True))
_threaded_step = {False: _plain_threaded, True: _penalised_threaded}


def _population_gan_step_of(penalised: bool):
    """The compiled GAN step a population's threads call. Its one cell is the constant:
    Numba's cache keys a closure by its cells' pickles, and a compiled function pickles
    otherwise in every process."""

    def population_gan_step(p, inputs, nets, d, g, results, scratch, sampler, layout_G,
                            layout_D2, layout_D1, settings):  # fmt: skip
        """GAN p's step without the GIL, on whichever of the population's threads took it
        (BLAS runs single-threaded inside it)."""
        if penalised:
            _penalised_one(p, inputs, nets, d, g, results, scratch, sampler, layout_G,
                           layout_D2, layout_D1, settings)  # fmt: skip
        else:
            _plain_one(p, inputs, nets, d, g, results, scratch, sampler, layout_G, layout_D2,
                       layout_D1, settings)  # fmt: skip

    return njit(nogil=True, cache=True, error_model="numpy")(_named(population_gan_step, penalised))


_population_gan_step = {
    penalised: _population_gan_step_of(penalised) for penalised in (False, True)
}


@functools.cache
def _helper_threads(n: int) -> ThreadPoolExecutor:
    """The process's n threads that help its calling thread run a population's GANs."""
    return ThreadPoolExecutor(n, thread_name_prefix="population")


# A forked child inherits the pools but not their threads: it makes its own.
os.register_at_fork(after_in_child=_helper_threads.cache_clear)


def _population_step(gan_step, P: int, arguments: tuple) -> None:
    """Every GAN's step, gan_step(p, *arguments) for p < P, on Numba's thread count of
    threads (the calling one among them), handing the GANs out one at a time:
    each thread takes the next GAN when it finishes one, so a thread that another process
    holds off its core takes fewer, and the step waits for no thread's fixed share (a
    parallel loop's static split would: beside one busy process on 2 cores it kept 45% of
    its idle rate). Which thread runs a GAN does not change its bits."""
    gans = iter(range(P))  # one iterator: next() hands each GAN out once (under the GIL)

    def work() -> None:
        for p in gans:
            gan_step(p, *arguments)

    n_helpers = min(numba.get_num_threads(), P) - 1
    helpers = [_helper_threads(n_helpers).submit(work) for _ in range(n_helpers)]
    try:
        work()
    finally:  # on an exception too, no thread is still stepping a GAN when this returns
        for _ in gans:  # the GANs no thread has taken are taken by none
            pass
        wait(helpers)
    for helper in helpers:
        helper.result()  # a helper's exception, raised here


@functools.cache
def _tables(config) -> Tables:
    """Tables for a PopulationConfig, built once per configuration."""
    base = config.base
    B, S = base.batch, base.d_steps
    spec_G, spec_D = base.generator_spec(), base.discriminator_spec()
    settings = Settings(
        np.array([[stream_id(kind, s) for kind in Stream] for s in range(S + 1)], np.int64),
        config.per_gan("real_target"),
        config.per_gan("label_flip"),
        config.penalties,
        loss.generator_sign(base.generator_loss),
        base.lr,
        base.beta1,
        base.beta2,
        optim.EPS,
        mlp.activation_code(spec_G),
        mlp.activation_code(spec_D),
    )
    return Tables(
        data.sampler_tables(get_dataset(base.dataset)),
        mlp.layout(spec_G, B),
        mlp.layout(spec_D, 2 * B),
        mlp.layout(spec_D, B),
        settings,
    )


def _tables_of(config, state) -> Tables:
    """_tables(config), remembered in the state's workspace with the config it is for:
    looking a population's config up in a cache would hash all P of its GANs every step."""
    remembered = state.workspace.get("tables")
    if remembered is None or remembered[0] is not config:
        remembered = state.workspace["tables"] = (config, _tables(config))
    return remembered[1]


def _scratch(config, state) -> Scratch:
    """The per-GAN scratch, made on the state's first step and reused: fresh buffers of
    this size cost page faults every step (a quarter of the step at P = 1)."""
    base, P = config.base, config.size
    penalised = config.penalised  # the penalty's buffers are empty without one
    if (base, penalised) not in state.workspace:
        tables, B, Z, dim = _tables_of(config, state), base.batch, base.latent, base.dim
        spec_G, spec_D = base.generator_spec(), base.discriminator_spec()

        def buffer(n):
            return np.empty((P, n), dtype=np.float32)

        work = max(mlp.backward_work(spec_G.sizes, B), mlp.backward_work(spec_D.sizes, 2 * B))
        target = 1.0 if tables.settings.generator_sign > 0 else 0.0
        tangent, gbar, dweight = penalty.scratch_sizes(spec_D, B)
        state.workspace[base, penalised] = Scratch(
            component=np.empty((P, B), dtype=np.int64),
            acts_G=buffer(tables.layout_G.h_off[-1]),
            acts_D=buffer(tables.layout_D2.h_off[-1]),
            dx=buffer(2 * B * dim),
            dz=buffer(B * Z),
            unused_dtheta_D=buffer(spec_D.n_params),
            work=buffer(work),
            target_G=np.full((P, B), target, dtype=np.float32),
            tangent=buffer(tangent * penalised),
            gbar=buffer(gbar * penalised),
            dweight=buffer(dweight * penalised),
        )
    return state.workspace[base, penalised]


def _outputs(config) -> tuple[DBuffers, GBuffers, Results]:
    """The step's outputs, fresh each step: the intermediates it returns are views of them."""
    base, P, S = config.base, config.size, config.base.d_steps
    B, Z, dim = base.batch, base.latent, base.dim

    def buffer(*shape):
        return np.empty((P, *shape), dtype=np.float32)

    d = DBuffers(
        x_real=buffer(S, B * dim),
        z=buffer(S, B * Z),
        x_fake=buffer(S, B * dim),
        x_noisy=buffer(S, 2 * B * dim),
        logits=buffer(S, 2 * B),
        dlogits=buffer(S, 2 * B),
        dtheta_D=buffer(S, base.discriminator_spec().n_params),
    )
    g = GBuffers(
        z=buffer(B * Z),
        x_fake=buffer(B * dim),
        x_fake_noisy=buffer(B * dim),
        logits=buffer(B),
        dlogits=buffer(B),
        dx_fake=buffer(B * dim),
        dtheta_G=buffer(base.generator_spec().n_params),
    )
    results = Results(np.zeros((P, S)), np.zeros((P, S)), np.zeros(P), np.zeros(P), np.zeros(P))
    return d, g, results


def train_step(config, state, step: int) -> tuple[dict, Mapping]:
    """fast.gan.train_step on the CPU: config a PopulationConfig, state its CPU
    PopulationState (updated in place)."""
    base, S = config.base, config.base.d_steps
    d, g, results = _outputs(config)
    corrections = optim.step_corrections(base.beta1, base.beta2, S, state.adam_D.t, state.adam_G.t)
    inputs = Inputs(step, config.sigma_at(step), config.gamma_at(step), state.keys, corrections)
    nets = Networks(state.theta_G, state.theta_D, state.adam_G.m, state.adam_G.v,
                    state.adam_D.m, state.adam_D.v)  # fmt: skip
    arguments = (inputs, nets, d, g, results, _scratch(config, state), *_tables_of(config, state))
    device.single_threaded_blas()
    if config.size > 1:
        _population_step(_population_gan_step[config.penalised], config.size, arguments)
    else:
        available = numba.get_num_threads()
        choice = state.workspace.get("threads")
        if choice is None:
            most = min(available, device.SHARES)  # more threads would have no part to run
            choice = state.workspace["threads"] = device.ThreadChoice(most)
        threads = choice.threads()
        numba.set_num_threads(threads)
        try:
            start = time.perf_counter()
            _threaded_step[config.penalised](0, *arguments)  # GAN 0's step
            choice.record(threads, time.perf_counter() - start)
        finally:
            numba.set_num_threads(available)
    state.adam_D.t += S
    state.adam_G.t += 1
    record = {
        "step": step,
        "sigma": inputs.sigma,
        "loss_D": _loss_D(results, S - 1),
        "loss_G": results.loss_G.astype(np.float32),
        "D_real": results.D_real.astype(np.float32),
        "D_fake": results.D_fake.astype(np.float32),
    }
    substeps = functools.partial(_substeps, base, config.penalised, d, g, results)
    return record, gan.Intermediates(base, config.penalised, substeps)


def _loss_D(results: Results, s: int) -> np.ndarray:
    """(P,) float32: D's logistic loss plus the penalty in substep s, summed in float32 as
    the composed step sums them."""
    return results.loss_D[:, s].astype(np.float32) + results.penalty_D[:, s].astype(np.float32)


def _substeps(base, penalised: bool, d: DBuffers, g: GBuffers, results: Results) -> tuple:
    """The step's buffers as fast.gan's substep records: ([DiscriminatorSubstep per
    substep], GeneratorSubstep), views of the buffers (the float64 scalars in float32)."""
    B, Z, dim = base.batch, base.latent, base.dim
    d_substeps = [
        gan.DiscriminatorSubstep(
            x_real=d.x_real[:, s].reshape(-1, B, dim),
            z=d.z[:, s].reshape(-1, B, Z),
            x_fake=d.x_fake[:, s].reshape(-1, B, dim),
            x_noisy=d.x_noisy[:, s].reshape(-1, 2 * B, dim),
            logits=d.logits[:, s],
            dlogits=d.dlogits[:, s],
            loss_D=_loss_D(results, s),
            penalty_D=results.penalty_D[:, s].astype(np.float32) if penalised else None,
            dtheta_D=d.dtheta_D[:, s],
        )
        for s in range(base.d_steps)
    ]
    g_substep = gan.GeneratorSubstep(
        z=g.z.reshape(-1, B, Z),
        x_fake=g.x_fake.reshape(-1, B, dim),
        x_fake_noisy=g.x_fake_noisy.reshape(-1, B, dim),
        logits=g.logits,
        dlogits=g.dlogits,
        loss_G=results.loss_G.astype(np.float32),
        dx_fake=g.dx_fake.reshape(-1, B, dim),
        dtheta_G=g.dtheta_G,
    )
    return d_substeps, g_substep


def compiled(config) -> bool:
    """Whether Numba's on-disk cache already holds the machine code of the step this
    PopulationConfig runs (by its size and whether it has a penalty), so that the first
    step of a run takes milliseconds, not the seconds of compiling it."""
    steps = _population_gan_step if config.size > 1 else _threaded_step
    step = steps[config.penalised]
    try:  # Numba's cache keeps this private; without a cache (NUMBA_DISABLE_JIT) say yes
        return os.path.exists(step._cache._cache_file._index_path)
    except AttributeError:
        return True
