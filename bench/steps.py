"""The rows that time this repository's own training steps, and the GEMM work they count:

    reference     the float64 NumPy reference, P = 1; NumPy's OpenBLAS, one thread per core
    fast          P GANs at once. CPU: 'fused', fast.gan.train_step (the fused step of
                  fast/fused_step_cpu.py), and 'composed', fast.gan.composed_step (the
                  public kernels one stage at a time, the same bits); the fused step's
                  GANs handed out one at a time to the process's threads, the composed
                  step's split over Numba's (the fused step at P = 1: its device.SHARES
                  parts on as many threads, as ThreadChoice picks), each GEMM on SciPy's
                  OpenBLAS with one thread. GPU: 'train_step', fast.gan.train_step (every
                  kernel and GEMM launched from Python); its other variants are
                  bench/gpu.py's.

A row's GEMM FLOPs per step (gemm_flops_per_gan_step, times P) give the table's GEMM GFLOP/s.
"""

import functools

from bench.timing import Row, fast_threads, gpu_threads, reference_threads, warmed_up
from fast import gan as fast_gan
from reference import gan as reference_gan
from reference import mlp as reference_mlp
from reference.config import GANConfig

SEED = 0


def gemm_flops_per_gan_step(config: GANConfig) -> int:
    """FLOPs of the GEMMs one GAN's step runs in the fast path (2 per multiply-add): each D
    substep runs G forward (B rows), D forward and a full D backward (2B rows); the G substep
    runs G and D forward, D's input-gradient backward and a full G backward (B rows). A full
    backward is two GEMMs per layer (dW and dh), an input-gradient one is one."""

    def per_row(spec: reference_mlp.MLPSpec) -> int:
        return sum(
            n_in * n_out for n_in, n_out in zip(spec.sizes[:-1], spec.sizes[1:], strict=False)
        )

    G, D, B = per_row(config.generator_spec()), per_row(config.discriminator_spec()), config.batch
    d_substep = B * G + 2 * B * D * 3
    g_substep = B * G + B * D * 2 + B * G * 2
    return 2 * (config.d_steps * d_substep + g_substep)


def population_config(config: GANConfig, population: int) -> fast_gan.PopulationConfig:
    """`population` GANs of config, seeds SEED, SEED + 1, ..., every one at config's sigma0."""
    return fast_gan.PopulationConfig.seeded(
        config, tuple(range(SEED, SEED + population)), (config.sigma0,) * population
    )


def training_row(*, impl, where, population, step, block, set_threads, config) -> Row:
    """A row that times `population` GANs' training steps of `config`."""
    flops = population * gemm_flops_per_gan_step(config)
    return Row(impl=impl, device=where, population=population, step=step, block=block,
               flops=flops, set_threads=set_threads)  # fmt: skip


def reference_row(config: GANConfig) -> Row:
    state = reference_gan.init_state(config)
    step = functools.partial(reference_gan.train_step, config, state)
    row = training_row(impl="reference", where="cpu", population=1, step=step, block=2,
                       set_threads=reference_threads, config=config)  # fmt: skip
    return warmed_up(row, 2)


def fast_row(config: GANConfig, where: str, population: int) -> Row:
    """fast.gan.train_step: on the CPU the fused step, variant 'fused' (at P = 1 its parts
    on two threads); on the GPU every kernel and GEMM launched from Python, 'train_step'."""
    pop = population_config(config, population)
    state = fast_gan.init_state(pop, where)
    threading = "handed" if population > 1 else "parts"
    set_threads = gpu_threads if where == "gpu" else functools.partial(fast_threads, threading)
    step = functools.partial(fast_gan.train_step, pop, state)
    row = training_row(impl="fast", where=where, population=population, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    row.fields["variant"] = "fused" if where == "cpu" else "train_step"
    return warmed_up(row, 5)


def composed_row(config: GANConfig, population: int) -> Row:
    """fast.gan.composed_step on the CPU, the readable composition of fast's public kernels
    (one Numba kernel per stage), to set against the fused step of the 'fast' rows, which
    computes the same bits."""
    pop = population_config(config, population)
    state = fast_gan.init_state(pop, "cpu")
    step = functools.partial(fast_gan.composed_step, pop, state)
    set_threads = functools.partial(fast_threads, "gans")
    row = training_row(impl="fast", where="cpu", population=population, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    row.fields["variant"] = "composed"
    return warmed_up(row, 5)
