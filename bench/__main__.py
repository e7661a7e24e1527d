"""python -m bench [--rounds R] [--repeats N] [--device all|cpu|gpu] [--json FILE]: one
training step of the standard configuration, timed side by side for every implementation
available here, in rounds, so that other work on the machine shows as spread, not as a
wrong ratio.

The standard configuration: `ring` data, latent 8, two hidden layers of 128 in each network
(ReLU in G, LeakyReLU 0.2 in D), batch 256 real + 256 fake, Adam, sigma = 0.1, one D step
and one G step. Rows (one per implementation, variant, device and population size P), each
with the threads it is given before every turn (the threads column shows what was set;
"BLAS x? (not found)" where the OpenBLAS to size could not be found):

    reference     the float64 NumPy reference, P = 1; NumPy's OpenBLAS, one thread per core
    fast          P GANs at once. CPU, P in {1, 16}: 'fused', fast.gan.train_step (the
                  fused step of fast/fused_step_cpu.py), and 'composed', the public kernels
                  one stage at a time; one GAN per Numba thread (the fused step at P = 1:
                  its device.SHARES parts on as many threads, as ThreadChoice picks), each
                  GEMM on SciPy's OpenBLAS with one thread.
                  GPU, P in {1, 64, 1024}: 'train_step', fast.gan.train_step (every kernel
                  and GEMM launched from Python); 'preallocated', GraphStep run eagerly over
                  buffers allocated once; 'graph', GraphStep replayed as one CUDA graph
    torch         the same networks, loss, noise and Adam written in plain PyTorch eager
                  (only if torch imports; its fastest Adam, fused, else foreach, in the
                  Adam column); torch's intra-op pool, one thread per core
    matmuls-only  the fast step's GEMMs alone, same shapes, parts and threading (at P = 1
                  always on device.SHARES threads), no elementwise work, on data that is the
                  same at every step: the BLAS limit of this design
    sgemm         (CPU) a plain float32 GEMM on the fast path's BLAS and threading (Numba's
                  np.dot, one OpenBLAS thread per GEMM): the step's largest shape, alone
                  and one per Numba thread at once, and a 1024^3 one alone: the peak that
                  the GEMM GFLOP/s column, matmuls-only's above all, is to be judged by

Timing. Every row is built and warmed up first (JIT compilation, caches, cuBLAS handles,
CUDA graph capture), outside every figure. Then come R rounds: in round r every row has one
turn, the rows in their order rotated by r and, in odd rounds, reversed, so that each row
(but a round's first) follows the row listed before it in even rounds and the one listed
after it in odd ones. A turn sets the row's threads; a CPU row then waits SETTLE_S for the
previous row's idle threads to stop spinning and takes one untimed step, a GPU row takes
one untimed block; then N blocks of consecutive steps are timed, the device synchronised
before each reading of the clock; the turn's figure is its median block. Per row the table
gives the median over rounds and their min-max; each ratio is formed within a round,
between rows timed in that round, and reported as its median over rounds: 'x reference' to
the reference, 'x fast P=1' to fast/fused cpu P=1 for CPU rows and to fast/graph gpu P=1
for GPU rows (printed under the table; none where that row is missing, as when the graph
capture failed). The load average is read before the rows are built and after the last
round, and printed; one line warns when any row's rounds spread by more than
SPREAD_WARNING of its median. GPU rows also show their GEMM GFLOP/s as a fraction of the
GPU's FP32 (no tensor core, no TF32) peak. --json records every round's figures and each
row's GEMM FLOPs per step, the load averages, the --device given, SETTLE_S, the date, and
the environment (processor, git commit, library versions, the BLAS and its OPENBLAS_*
settings; on a GPU its name, its FP32 peak and how it was obtained, CuPy and CUDA versions).
--device gpu runs only the reference and the GPU rows.
"""

import argparse
import datetime
import functools
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange

from fast import device
from fast import gan as fast_gan
from reference import gan as reference_gan
from reference import mlp as reference_mlp
from reference.config import GANConfig
from reference.data import get_dataset
from reference.philox import SubstepRandom

STANDARD = GANConfig(sigma0=0.1)
CPU_POPULATIONS = (1, 16)
GPU_POPULATIONS = (1, 64, 1024)
SEED = 0
CORES = os.cpu_count() or 1
# OpenBLAS's idle workers spin for 2**28 cycles (OPENBLAS_THREAD_TIMEOUT's default, about
# 0.1 s) before they sleep, libgomp's (torch's) for 300,000 spins: a CPU row timed straight
# after another would share the cores with them. GPU rows do not wait: they use neither
# pool (though the thread that launches their work may still meet a CPU row's spin).
SETTLE_S = 0.25
# The row each device's 'x fast P=1' ratios are formed against: fast at P = 1 in this variant.
BASELINE_VARIANT = {"cpu": "fused", "gpu": "graph"}
SPREAD_WARNING = 0.2  # of a row's median over rounds
SGEMM_LARGE = 1024


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


def synchronize(where: str) -> None:
    if where == "gpu":
        import cupy

        cupy.cuda.runtime.deviceSynchronize()


@dataclass
class Row:
    """One implementation to time: step(s) advances it by one step (s its index), a timed
    block is `block` steps of `flops` GEMM FLOPs each, and set_threads() sizes the thread
    pools it uses before each of its turns and returns what it set, kept in `threads`.
    `fields` (variant, adam, shape, gpu) go into its results; `seconds` gets each round's
    seconds per step."""

    impl: str
    device: str
    population: int
    step: Callable[[int], object]
    block: int
    flops: float
    set_threads: Callable[[], str]
    fields: dict = field(default_factory=dict)
    threads: str = ""
    next_step: int = 0
    seconds: list[float] = field(default_factory=list)

    def run(self, steps: int) -> None:
        """`steps` consecutive steps, the device synchronised after the last."""
        for _ in range(steps):
            self.step(self.next_step)
            self.next_step += 1
        synchronize(self.device)


def warmed_up(row: Row, steps: int) -> Row:
    """The row after `steps` untimed steps (JIT compilation, cuBLAS handles, caches)."""
    row.threads = row.set_threads()
    row.run(steps)
    return row


def time_turn(row: Row, repeats: int) -> float:
    """One round's figure for a row: the median over `repeats` blocks of the mean seconds
    per step of a block, after its threads are set and, on the CPU, SETTLE_S and one
    untimed step; on the GPU one untimed block (a GPU left idle by the rows before may take
    more than one step to come back to speed)."""
    row.threads = row.set_threads()
    if row.device == "gpu":
        row.run(row.block)
    else:
        time.sleep(SETTLE_S)
        row.run(1)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        row.run(row.block)
        times.append((time.perf_counter() - start) / row.block)
    return float(np.median(times))


def run_rounds(rows: list[Row], rounds: int, repeats: int) -> None:
    """Every row once per round, in the order rotated by the round and reversed in odd
    rounds: each row (but a round's first) follows the row listed before it in even rounds
    and the one listed after it in odd ones."""
    for r in range(rounds):
        order = rows[r % len(rows) :] + rows[: r % len(rows)]
        for row in order[::-1] if r % 2 else order:
            row.seconds.append(time_turn(row, repeats))
        print(f"round {r + 1} of {rounds} done", file=sys.stderr, flush=True)


def reference_threads() -> str:
    """NumPy's OpenBLAS (the reference's, a copy apart from SciPy's), one thread per core."""
    if device.set_blas_threads(CORES, package="numpy"):
        return f"NumPy BLAS x{CORES}"
    return "NumPy BLAS x? (not found)"


def fast_threads(threading: str) -> str:
    """The fast CPU path's threading, and SciPy's OpenBLAS, which Numba's np.dot calls, at
    one thread: 'gans', one GAN per Numba thread (P > 1); 'parts', one GAN's device.SHARES
    parts on as many Numba threads (P = 1); 'one', the calling thread alone. Numba's count
    is left as Numba starts it: nothing in this process changes it."""
    blas = "BLAS x1" if device.set_blas_threads(1) else "BLAS x? (not found)"
    threads = numba.get_num_threads()
    if threading == "gans":
        return f"Numba x{threads}, {blas}"
    if threading == "parts":
        return f"Numba x{min(threads, device.SHARES)} (parts), {blas}"
    return f"1 thread, {blas}"


def gpu_threads() -> str:
    """A GPU row has no thread pool of its own to size."""
    return "GPU"


def population_config(config, population: int) -> fast_gan.PopulationConfig:
    return fast_gan.PopulationConfig.seeded(
        config, tuple(range(SEED, SEED + population)), (config.sigma0,) * population
    )


def training_row(*, impl, where, population, step, block, set_threads, config) -> Row:
    """A row that times `population` GANs' training steps of `config`."""
    flops = population * gemm_flops_per_gan_step(config)
    return Row(impl=impl, device=where, population=population, step=step, block=block,
               flops=flops, set_threads=set_threads)  # fmt: skip


def reference_row(config) -> Row:
    state = reference_gan.init_state(config)
    step = functools.partial(reference_gan.train_step, config, state)
    row = training_row(impl="reference", where="cpu", population=1, step=step, block=2,
                       set_threads=reference_threads, config=config)  # fmt: skip
    return warmed_up(row, 2)


def fast_row(config, where: str, population: int) -> Row:
    """fast.gan.train_step: on the CPU the fused step, variant 'fused' (at P = 1 its parts
    on two threads); on the GPU every kernel and GEMM launched from Python, 'train_step'."""
    pop = population_config(config, population)
    state = fast_gan.init_state(pop, where)
    threading = "gans" if population > 1 else "parts"
    set_threads = gpu_threads if where == "gpu" else functools.partial(fast_threads, threading)
    step = functools.partial(fast_gan.train_step, pop, state)
    row = training_row(impl="fast", where=where, population=population, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    row.fields["variant"] = "fused" if where == "cpu" else "train_step"
    return warmed_up(row, 5)


def composed_row(config, population: int) -> Row:
    """fast's readable version on the CPU, the composition of its public kernels
    (fast.gan.discriminator_substep and generator_substep, one Numba kernel per stage), to
    set against the fused step of the 'fast' rows, which computes the same bits."""
    pop = population_config(config, population)
    state = fast_gan.init_state(pop, "cpu")

    def step(s):
        sigma, gamma = pop.sigma_at(s), pop.gamma_at(s)
        for substep in range(config.d_steps):
            rng = SubstepRandom(state.keys, s, substep)
            fast_gan.discriminator_substep(pop, state, rng, sigma, gamma)
        fast_gan.generator_substep(pop, state, SubstepRandom(state.keys, s, config.d_steps), sigma)

    set_threads = functools.partial(fast_threads, "gans")
    row = training_row(impl="fast", where="cpu", population=population, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    row.fields["variant"] = "composed"
    return warmed_up(row, 5)


@njit(error_model="numpy")
def _forward_gemms(theta, w_off, sizes, h, acts, out, part):
    """fast.mlp.forward_rows's GEMMs: h_l @ W_l on row share `part` of h (n, n0), layer by
    layer; acts: (L, n * widest) stands in for the hidden outputs."""
    n, n_layers = h.shape[0], sizes.shape[0] - 1
    first, stop = device.share(n, part)
    h_in = h
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        W = theta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        h_out = out if layer == n_layers - 1 else acts[layer, : n * n_out].reshape(n, n_out)
        np.dot(h_in[first:stop], W, h_out[first:stop])
        h_in = h_out


@njit(error_model="numpy")
def _backward_gemms(theta, w_off, sizes, h, acts, grads, out, dx, param_grad, dtheta, layer,
                    part):  # fmt: skip
    """fast.mlp.backward_layer's GEMMs, reading `out` as dy: h_l^T @ da (part 0, with
    param_grad) and da @ W_l^T one row share at a time. grads: (2, n * widest) stands in
    for backward_one's work, layer 0's input gradient goes into dx (n, n0)."""
    n, n_layers = h.shape[0], sizes.shape[0] - 1
    n_in, n_out = sizes[layer], sizes[layer + 1]
    W = theta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
    h_in = h if layer == 0 else acts[layer - 1, : n * n_in].reshape(n, n_in)
    last = layer == n_layers - 1
    da = out if last else grads[(layer + 1) % 2, : n * n_out].reshape(n, n_out)
    if param_grad and part == 0:
        dW = dtheta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        np.dot(h_in.T, da, dW)
        return
    dh = dx if layer == 0 else grads[layer % 2, : n * n_in].reshape(n, n_in)
    first_part, stop_part = (0, device.SHARES) if param_grad else (part, part + 1)
    for rows_part in range(first_part, stop_part):
        first, stop = device.share(n, rows_part)
        np.dot(da[first:stop], W.T, dh[first:stop])


@njit(inline="always", error_model="numpy")
def _gemm_pass(theta, w_off, sizes, h, acts, grads, out, dx, backward, param_grad, dtheta):
    """The GEMMs of one fast.mlp pass on h (n, n0), in its order, shapes and parts (a
    parallel loop where this is inlined into a parallel kernel). The backward writes its
    gradients into grads, never over what a forward reads, so every step multiplies the
    same data (written over the activations, as it once was, it shrank step after step to
    denormals, then zeros)."""
    if not backward:
        for part in prange(device.SHARES):
            _forward_gemms(theta, w_off, sizes, h, acts, out, part)
        return
    for i in range(sizes.shape[0] - 1):
        layer = sizes.shape[0] - 2 - i
        for part in prange(device.SHARES):
            _backward_gemms(theta, w_off, sizes, h, acts, grads, out, dx, param_grad, dtheta,
                            layer, part)  # fmt: skip


def _matmuls_one(p, G, D, z, x, d_steps):
    """GAN p's GEMMs of fast.gan.train_step: per D substep G forward (B rows), D forward and
    full backward (2B rows); then G forward, D forward and input-gradient backward and G's
    full backward (B rows). G and D: (theta, dtheta, acts, grads, out, dx, sizes, w_off)."""
    theta_G, dtheta_G, acts_G, grads_G, out_G, dx_G, sizes_G, w_G = G
    theta_D, dtheta_D, acts_D, grads_D, out_D, dx_D, sizes_D, w_D = D
    B = z.shape[1]
    for substep in range(d_steps + 1):
        d_substep = substep < d_steps
        n = 2 * B if d_substep else B
        zp, out_Gp, dx_Gp = z[p], out_G[p], dx_G[p]
        xp, out_Dp, dx_Dp = x[p, :n], out_D[p, :n], dx_D[p, :n]
        theta, dtheta, acts, grads = theta_G[p], dtheta_G[p], acts_G[p], grads_G[p]
        _gemm_pass(theta, w_G, sizes_G, zp, acts, grads, out_Gp, dx_Gp, False, False, dtheta)
        theta, dtheta, acts, grads = theta_D[p], dtheta_D[p], acts_D[p], grads_D[p]
        _gemm_pass(theta, w_D, sizes_D, xp, acts, grads, out_Dp, dx_Dp, False, False, dtheta)
        _gemm_pass(theta, w_D, sizes_D, xp, acts, grads, out_Dp, dx_Dp, True, d_substep,
                   dtheta)  # fmt: skip
        if not d_substep:
            theta, dtheta, acts, grads = theta_G[p], dtheta_G[p], acts_G[p], grads_G[p]
            _gemm_pass(theta, w_G, sizes_G, zp, acts, grads, out_Gp, dx_Gp, True, True, dtheta)


# As fast/fused_step_cpu.py's step: GAN p's GEMMs as a plain function inside the
# population's parallel loop, and at P = 1 its parts on Numba's threads.
_matmuls_gan, _matmuls_threaded = device.compiled_twice(_matmuls_one)


@njit(parallel=True, cache=True, error_model="numpy")
def _matmuls_only_parallel(G, D, z, x, d_steps):
    for p in prange(z.shape[0]):
        _matmuls_gan(p, G, D, z, x, d_steps)


def matmuls_only_row(config, where: str, population: int) -> Row:
    """The fast step's GEMMs alone, threaded as the fast step is (a GAN's parts on their
    own threads at P = 1, one GAN per thread above, BLAS single-threaded)."""
    if where == "gpu":
        return _matmuls_only_gpu_row(config, population)
    spec_G, spec_D = config.generator_spec(), config.discriminator_spec()
    B, P = config.batch, population
    widest = max(*spec_G.sizes, *spec_D.sizes)
    state = fast_gan.init_state(population_config(config, P), "cpu")

    def network(spec, theta, rows: int, n_out: int):
        offsets = np.array([w for w, _, _ in spec.offsets()], np.int64)
        acts = np.ones((P, spec.n_layers, rows * widest), np.float32)
        grads = np.ones((P, 2, rows * widest), np.float32)
        out = np.ones((P, rows, n_out), np.float32)
        dx = np.zeros((P, rows, spec.sizes[0]), np.float32)
        sizes = np.array(spec.sizes, np.int64)
        return theta, np.zeros_like(theta), acts, grads, out, dx, sizes, offsets

    G = network(spec_G, state.theta_G, B, config.dim)
    D = network(spec_D, state.theta_D, 2 * B, 1)
    z = np.ones((P, B, config.latent), np.float32)
    x = np.ones((P, 2 * B, config.dim), np.float32)

    def step(_):
        if P > 1:
            _matmuls_only_parallel(G, D, z, x, config.d_steps)
        else:
            _matmuls_threaded(0, G, D, z, x, config.d_steps)

    set_threads = functools.partial(fast_threads, "gans" if P > 1 else "parts")
    row = training_row(impl="matmuls-only", where="cpu", population=P, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    return warmed_up(row, 5)


@njit(cache=True, error_model="numpy")
def _sgemm_serial(a, b, c):
    for t in range(a.shape[0]):
        np.dot(a[t], b[t], c[t])


@njit(parallel=True, cache=True, error_model="numpy")
def _sgemm_parallel(a, b, c):
    for t in prange(a.shape[0]):
        np.dot(a[t], b[t], c[t])


def sgemm_row(m: int, k: int, n: int, gemms: int, block: int) -> Row:
    """`gemms` float32 GEMMs c[t] = a[t] @ b[t], (m, k) @ (k, n), at once, each on one
    OpenBLAS thread, threaded as matmuls-only is (one call with no parallel region for a
    single GEMM, one GEMM per Numba thread above): the fast path's BLAS and threading, with
    nothing else around them."""
    a, b = np.ones((gemms, m, k), np.float32), np.ones((gemms, k, n), np.float32)
    c = np.empty((gemms, m, n), np.float32)
    kernel = _sgemm_parallel if gemms > 1 else _sgemm_serial
    row = Row(impl="sgemm", device="cpu", population=gemms, step=lambda _: kernel(a, b, c),
              block=block, flops=gemms * 2 * m * k * n,
              set_threads=functools.partial(fast_threads, "gans" if gemms > 1 else "one"),
              fields={"shape": f"{m}x{k} @ {k}x{n}"})  # fmt: skip
    return warmed_up(row, 3)


def sgemm_rows(config) -> list[Row]:
    """The step's largest GEMM, D's hidden layer on 2B rows, alone and one per Numba thread,
    and a large square one alone, where OpenBLAS reaches its peak."""
    m, h, threads = 2 * config.batch, config.hidden, numba.config.NUMBA_NUM_THREADS
    # blocks of 10 to 20 ms, as the training rows' (the small GEMM takes about 0.15 ms, the
    # large one 20 ms), so that one lost time slice moves a block by a fraction, not a multiple
    return [sgemm_row(m, h, h, 1, 100), sgemm_row(m, h, h, threads, 100),
            sgemm_row(SGEMM_LARGE, SGEMM_LARGE, SGEMM_LARGE, 1, 1)]  # fmt: skip


def torch_row(config, where: str) -> Row | None:
    """The same step in plain PyTorch eager: the same networks and initial parameters, the
    ring's mixture sampled with torch's own generator, instance noise on real and fake, the
    logistic loss, Adam (fused where this torch has it, else foreach); on the CPU torch's
    intra-op pool, one thread per core. None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch_device = torch.device("cuda" if where == "gpu" else "cpu")
    spec_G, spec_D = config.generator_spec(), config.discriminator_spec()
    initial = reference_gan.init_state(config)

    def network(spec, theta, hidden_activation):
        layers = []
        for weight, bias in reference_mlp.layer_views(spec, theta):
            linear = torch.nn.Linear(*weight.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weight.T.copy()))
                linear.bias.copy_(torch.from_numpy(bias.copy()))
            layers += [linear, hidden_activation()]
        return torch.nn.Sequential(*layers[:-1]).to(torch_device)

    G = network(spec_G, initial.theta_G, torch.nn.ReLU)
    D = network(spec_D, initial.theta_D, lambda: torch.nn.LeakyReLU(reference_mlp.LEAKY_RELU_SLOPE))
    optimizers, adam = [], "fused"
    for net in (G, D):
        kwargs = dict(lr=config.lr, betas=(config.beta1, config.beta2), eps=1e-8)
        try:
            optimizers.append(torch.optim.Adam(net.parameters(), fused=True, **kwargs))
        except (RuntimeError, TypeError):
            optimizers.append(torch.optim.Adam(net.parameters(), foreach=True, **kwargs))
            adam = "foreach"
    opt_G, opt_D = optimizers
    dataset = get_dataset(config.dataset)
    means = torch.tensor(dataset.means, dtype=torch.float32, device=torch_device)
    stds = torch.tensor(dataset.stds, dtype=torch.float32, device=torch_device)
    B, Z, sigma = config.batch, config.latent, config.sigma0
    target = torch.cat([torch.ones(B, 1), torch.zeros(B, 1)]).to(torch_device)
    ones = torch.ones(B, 1, device=torch_device)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def step(_):
        for _ in range(config.d_steps):
            component = torch.randint(len(means), (B,), device=torch_device)
            noise = torch.randn(B, config.dim, device=torch_device)
            x_real = means[component] + stds[component] * noise
            with torch.no_grad():
                x_fake = G(torch.randn(B, Z, device=torch_device))
            x = torch.cat([x_real, x_fake])
            loss_D = bce(D(x + sigma * torch.randn_like(x)), target)
            opt_D.zero_grad(set_to_none=True)
            loss_D.backward()
            opt_D.step()
        x_fake = G(torch.randn(B, Z, device=torch_device))
        loss_G = bce(D(x_fake + sigma * torch.randn_like(x_fake)), ones)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward(inputs=list(G.parameters()))  # D's weight gradients are not needed
        opt_G.step()

    def torch_threads() -> str:
        torch.set_num_threads(CORES)
        return f"torch x{torch.get_num_threads()}"

    set_threads = gpu_threads if where == "gpu" else torch_threads
    row = training_row(impl="torch", where=where, population=1, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    row.fields["adam"] = adam
    return warmed_up(row, 5)


def environment(config, gpu: bool) -> dict:
    """What the numbers depend on: the machine, the code, the libraries, the BLAS and its
    settings, and with `gpu` CuPy's and CUDA's versions."""
    import scipy

    env = {
        "processor": platform.processor() or platform.machine(),
        "git_commit": _git_commit(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "blas": _blas_name(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "config": vars(config),
        "gemm_flops_per_gan_step": gemm_flops_per_gan_step(config),
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:  # not Linux
        names = []
    env["cpu"] = names[0] if names else platform.processor()
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    if gpu:
        import cupy

        env["cupy"] = cupy.__version__
        env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        env["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
    return env


def _git_commit() -> str | None:
    """The short commit of the checkout this file is in; None without git or a checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    except OSError:  # no git
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _blas_name() -> dict:
    """The BLAS NumPy's matmul calls (the reference) and the one Numba's np.dot calls
    (SciPy's, the fast CPU path)."""
    import scipy

    def name(config: dict) -> str:
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()

    return {
        "numpy": name(np.show_config(mode="dicts")),
        "scipy (numba np.dot)": name(scipy.show_config(mode="dicts")),
    }


def build_rows(
    config, populations_cpu: tuple[int, ...], populations_gpu: tuple[int, ...], where: str = "all"
) -> list[Row]:
    """Every row, built and warmed up. where: 'all' (the CPU rows, then the GPU's if there
    is one), 'cpu' or 'gpu'; the reference row, every 'x reference' ratio's baseline,
    always comes first."""
    rows = [reference_row(config)]
    if where in ("all", "cpu"):
        rows += [fast_row(config, "cpu", P) for P in populations_cpu]
        rows += [composed_row(config, P) for P in populations_cpu]
        rows += [r for r in [torch_row(config, "cpu")] if r is not None]
        rows += [matmuls_only_row(config, "cpu", P) for P in populations_cpu]
        rows += sgemm_rows(config)
    if where == "gpu" or (where == "all" and device.gpu_available()):
        rows += gpu_rows(config, populations_gpu)
    return rows


def gpu_rows(config, populations: tuple[int, ...]) -> list[Row]:
    """The GPU rows: fast as 'train_step' (every kernel and GEMM launched from Python,
    buffers from CuPy's pool) and as GraphStep, 'preallocated' (run eagerly over buffers
    allocated once) and 'graph' (replayed as one CUDA graph); PyTorch CUDA eager at P = 1;
    the step's cuBLAS GEMMs alone. Each row also gets its GEMM FLOP rate as a fraction of
    the GPU's FP32 peak. A row that fails to build prints why and is left out, so the others
    still come out."""
    import cupy

    name, peak, source = gpu_fp32_peak()
    print(f"GPU: {name}, FP32 peak {peak / 1e12:.1f} TFLOP/s = {source}", flush=True)
    builders = []
    for P in populations:
        builders += [
            (f"fast/train_step gpu P={P}", functools.partial(fast_row, config, "gpu", P)),
            (f"fast/preallocated gpu P={P}", functools.partial(graph_step_row, config, P, False)),
            (f"fast/graph gpu P={P}", functools.partial(graph_step_row, config, P, True)),
        ]
    builders.append(("torch gpu", functools.partial(torch_row, config, "gpu")))
    builders += [
        (f"matmuls-only gpu P={P}", functools.partial(matmuls_only_row, config, "gpu", P))
        for P in populations
    ]
    rows = []
    for label, build in builders:
        try:
            r = build()
        except Exception as error:  # one broken row must not cost the others
            print(f"{label}: failed: {error!r}", flush=True)
            cupy.get_default_memory_pool().free_all_blocks()
            continue
        if r is None:
            continue
        r.fields.update(gpu=name, fp32_peak_tflops=peak / 1e12, fp32_peak_source=source)
        rows.append(r)
    return rows


# Hopper (sm_90) has 128 FP32 lanes per SM; one FMA is 2 FLOP. 132 SMs at the 1.98 GHz
# boost clock give 66.9 TFLOP/s, NVIDIA's 67 TFLOP/s FP32 for the H100 SXM5 and the H200.
# The lane count is assumed for any GPU (the source string says so): other architectures
# differ (Ampere's GA100 has 64).
FP32_LANES_PER_SM = 128
HOPPER_BOOST_CLOCK_KHZ = 1_980_000
CUDA_DEV_ATTR_CLOCK_RATE = 13  # cudaDevAttrClockRate, in kHz


def gpu_fp32_peak() -> tuple[str, float, str]:
    """(device name, FP32 peak FLOP/s without tensor cores, how it was obtained) of GPU 0.
    CUDA 13 dropped cudaDeviceProp.clockRate, so the clock comes from the device attribute,
    or, where that is gone too, is the Hopper boost clock (and says so)."""
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    clock_khz, clock_source = props.get("clockRate"), "cudaDeviceProp.clockRate"
    if not clock_khz:
        try:
            clock_khz = cupy.cuda.runtime.deviceGetAttribute(CUDA_DEV_ATTR_CLOCK_RATE, 0)
            clock_source = "cudaDevAttrClockRate"
        except Exception:  # the attribute is deprecated: fall back to the datasheet clock
            clock_khz, clock_source = HOPPER_BOOST_CLOCK_KHZ, "assumed Hopper boost clock"
    sms = props["multiProcessorCount"]
    peak = sms * FP32_LANES_PER_SM * 2 * clock_khz * 1e3
    source = (
        f"{sms} SMs x {FP32_LANES_PER_SM} FP32 lanes (assumed: Hopper's per SM) x 2 FLOP x "
        f"{clock_khz / 1e6:.2f} GHz ({clock_source})"
    )
    return name, peak, source


def graph_step_row(config, population: int, use_graph: bool) -> Row:
    """fast/graph_step_gpu.py: the step over buffers allocated once, run eagerly
    ('preallocated') or replayed as one CUDA graph ('graph', captured in the warm-up)."""
    from fast.graph_step_gpu import GraphStep

    pop = population_config(config, population)
    graph_step = GraphStep(pop, fast_gan.init_state(pop, "gpu"), use_graph=use_graph)
    row = warmed_up(training_row(impl="fast", where="gpu", population=population, step=graph_step,
                                 block=10, set_threads=gpu_threads, config=config), 5)  # fmt: skip
    captured = graph_step.graph is not None
    variant = "graph" if captured else ("graph capture failed" if use_graph else "preallocated")
    row.fields["variant"] = variant
    return row


def gpu_step_gemms(config) -> list[tuple[bool, bool, int, int, int]]:
    """The (trans_a, trans_b, m, n, k) column-major cuBLAS calls of one GAN's step on the GPU
    path (fast.mlp.forward_into_gpu / backward_into_gpu): forward (N, N), weight gradient
    (N, T) and input gradient (T, N) per layer."""
    spec_G, spec_D, B = config.generator_spec(), config.discriminator_spec(), config.batch

    def layers(spec):
        return list(zip(spec.sizes[:-1], spec.sizes[1:], strict=True))

    def forward(spec, rows):
        return [(False, False, n_out, rows, n_in) for n_in, n_out in layers(spec)]

    def backward(spec, rows, weights: bool):
        gemms = []
        for n_in, n_out in reversed(layers(spec)):
            gemms += [(False, True, n_out, n_in, rows)] if weights else []
            gemms.append((True, False, n_in, rows, n_out))
        return gemms

    d_substep = forward(spec_G, B) + forward(spec_D, 2 * B) + backward(spec_D, 2 * B, True)
    g_substep = forward(spec_G, B) + forward(spec_D, B) + backward(spec_D, B, False)
    return d_substep * config.d_steps + g_substep + backward(spec_G, B, True)


def _matmuls_only_gpu_row(config, population: int) -> Row:
    """The step's cuBLAS calls alone (same shapes, same strided-batched sgemm over P), on
    scratch buffers, launched from Python as the eager path launches them."""
    import cupy

    from fast import mlp as fast_mlp

    gemms = gpu_step_gemms(config)
    assert 2 * sum(m * n * k for _, _, m, n, k in gemms) == gemm_flops_per_gan_step(config)
    size = population * max(max(m * k, k * n, m * n) for _, _, m, n, k in gemms)
    a, b, c = (cupy.ones(size, dtype=np.float32) for _ in "abc")

    def step(_):
        for trans_a, trans_b, m, n, k in gemms:
            fast_mlp._gemm_gpu(
                trans_a, trans_b, m, n, k,
                a.data.ptr, k if trans_a else m, m * k,
                b.data.ptr, n if trans_b else k, k * n,
                c.data.ptr, m, m * n, population,
            )  # fmt: skip

    row = training_row(impl="matmuls-only", where="gpu", population=population, step=step,
                       block=10, set_threads=gpu_threads, config=config)  # fmt: skip
    return warmed_up(row, 5)


def baseline_rows(rows: list[Row]) -> dict[str, Row]:
    """Per device, the row its 'x fast P=1' ratios are formed against: fast at P = 1 in
    BASELINE_VARIANT's variant; a device without that row (a failed graph capture) has none."""
    return {r.device: r for r in rows if r.impl == "fast" and r.population == 1
            and r.fields.get("variant") == BASELINE_VARIANT[r.device]}  # fmt: skip


def results(rows: list[Row]) -> list[dict]:
    """Per row its figures of every round and their median and min-max; the ratios of each
    round to the reference and to its device's baseline_rows row timed in that round, and
    their medians, with that row's name; sgemm rows have no ratios."""
    reference = next(r for r in rows if r.impl == "reference")
    fast_one = baseline_rows(rows)
    out = []
    for r in rows:
        steps = 1.0 / np.array(r.seconds)  # steps per second, one per round
        entry = {"impl": r.impl, "device": r.device, "population": r.population,
                 "threads": r.threads, **r.fields,
                 "steps_per_s": float(np.median(steps)), "steps_per_s_min": float(steps.min()),
                 "steps_per_s_max": float(steps.max()),
                 "spread": float((steps.max() - steps.min()) / np.median(steps)),
                 "gemm_flops_per_step": r.flops,
                 "gemm_gflops": float(np.median(steps * r.flops / 1e9)),
                 "rounds_steps_per_s": steps.tolist()}  # fmt: skip
        if r.impl != "sgemm":
            gan_steps = r.population * steps
            entry["gan_steps_per_s"] = float(np.median(gan_steps))
            fast_p1 = fast_one.get(r.device)
            entry["x_fast_p1_baseline"] = None if fast_p1 is None else _row_name(fast_p1)
            baselines = {"x_reference": reference, "x_fast_p1": fast_p1}
            for name, baseline in baselines.items():
                if baseline is None:  # no baseline row on this device
                    entry[name] = entry[f"rounds_{name}"] = None
                    continue
                # GAN-steps per second over the baseline's, both timed in the same round
                ratios = gan_steps / (baseline.population / np.array(baseline.seconds))
                entry[name], entry[f"rounds_{name}"] = float(np.median(ratios)), ratios.tolist()
        if "fp32_peak_tflops" in r.fields:
            entry["fp32_peak_fraction"] = entry["gemm_gflops"] / 1e3 / r.fields["fp32_peak_tflops"]
        out.append(entry)
    return out


def print_table(entries: list[dict], rounds: int, load: dict) -> None:
    """The rows, what 'x fast P=1' is formed against, the sgemm peak below them, the load
    averages and, where a row's rounds disagree, one line of warning."""
    before, after = (" ".join(f"{x:.2f}" for x in load[when]) for when in ("before", "after"))
    print(f"load average (1, 5, 15 min): {before} before, {after} after (this run's own "
          f"threads count in it); {CORES} CPUs")  # fmt: skip
    print(f"{rounds} rounds, each row once per round, in rotating order reversed in odd "
          "rounds: medians over rounds, their min-max, ratios formed within a round")  # fmt: skip
    steps = [e for e in entries if e["impl"] != "sgemm"]
    tw = max(len("threads"), *(len(e["threads"]) for e in entries))
    print(f"{'impl':26s} {'device':6s} {'P':>5s} {'threads':{tw}s} {'steps/s':>9s} "
          f"{'min-max':>15s} {'GAN-steps/s':>11s} {'GEMM GFLOP/s':>12s} {'FP32 peak':>9s} "
          f"{'x reference':>11s} {'x fast P=1':>10s} Adam")  # fmt: skip
    for e in steps:
        x_fast = e["x_fast_p1"] if e["x_fast_p1"] is not None else np.nan
        peak = f"{100 * e['fp32_peak_fraction']:.2f}%" if "fp32_peak_fraction" in e else "-"
        print(f"{_label(e):26s} {e['device']:6s} {e['population']:5d} {e['threads']:{tw}s} "
              f"{e['steps_per_s']:9.1f} {_range(e, 1):>15s} {e['gan_steps_per_s']:11.1f} "
              f"{e['gemm_gflops']:12.2f} {peak:>9s} {e['x_reference']:11.2f} {x_fast:10.2f} "
              f"{e.get('adam', '-')}")  # fmt: skip
    for where in sorted({e["device"] for e in steps}):
        baseline = next(e["x_fast_p1_baseline"] for e in steps if e["device"] == where)
        wanted = f"fast/{BASELINE_VARIANT[where]} {where} P=1"
        print(f"x fast P=1 on {where}: GAN-steps/s over {baseline}'s" if baseline else
              f"x fast P=1 on {where}: none, there is no {wanted} row")  # fmt: skip
    sgemm = [e for e in entries if e["impl"] == "sgemm"]
    if sgemm:
        print("sgemm peak: float32 GEMMs on the fast path's BLAS (Numba's np.dot), one "
              "OpenBLAS thread each")  # fmt: skip
        print(f"{'shape':26s} {'GEMMs at once':>13s} {'threads':{tw}s} {'GFLOP/s':>9s} "
              f"{'min-max':>15s}")  # fmt: skip
        for e in sgemm:
            gflop = e["gemm_flops_per_step"] / 1e9  # per call: all its GEMMs at once
            print(f"{e['shape']:26s} {e['population']:13d} {e['threads']:{tw}s} "
                  f"{e['gemm_gflops']:9.2f} {_range(e, gflop):>15s}")  # fmt: skip
    spread = [e for e in entries if e["spread"] > SPREAD_WARNING]
    if spread:
        names = ", ".join(f"{_name(e)} {100 * e['spread']:.0f}%" for e in spread)
        print(f"warning: rounds spread by more than {100 * SPREAD_WARNING:.0f}% of the "
              f"median in {names}: other work on the machine (see the load average)")  # fmt: skip


def _label(entry: dict) -> str:
    """'reference', 'fast/fused', 'fast/graph', ..."""
    return entry["impl"] + ("/" + entry["variant"] if "variant" in entry else "")


def _name(entry: dict) -> str:
    """A row as the warning names it: 'fast/composed cpu P=16', 'sgemm 512x128 @ 128x128 x2'."""
    if entry["impl"] == "sgemm":
        return f"sgemm {entry['shape']} x{entry['population']}"
    return f"{_label(entry)} {entry['device']} P={entry['population']}"


def _row_name(row: Row) -> str:
    """_name of a row not yet turned into its entry."""
    return _name({"impl": row.impl, "device": row.device, "population": row.population,
                  **row.fields})  # fmt: skip


def _range(entry: dict, scale: float) -> str:
    """'min-max' of a row's steps per second over rounds, times scale."""
    return f"{scale * entry['steps_per_s_min']:.1f}-{scale * entry['steps_per_s_max']:.1f}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Time one training step of the standard configuration for every "
        "implementation available here, side by side, interleaved over rounds.",
    )
    parser.add_argument("--json", help="also write the rows and the environment to this file")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds; each row is timed once per round, in rotating order "
                        "(default 5, at least 3 for a spread worth the name)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed blocks per row per round; a round's figure is their "
                        "median (default 5)")  # fmt: skip
    parser.add_argument(
        "--device",
        choices=("all", "cpu", "gpu"),
        default="all",
        help="which rows besides the reference: all (the GPU's where present), cpu or gpu",
    )
    args = parser.parse_args(argv)
    for name in ("rounds", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.device == "gpu" and not device.gpu_available():
        parser.error("--device: gpu needs CuPy and a CUDA device, and none was found "
                     "(use cpu or all)")  # fmt: skip
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load = {"before": os.getloadavg()}
    rows = build_rows(STANDARD, CPU_POPULATIONS, GPU_POPULATIONS, args.device)
    run_rounds(rows, args.rounds, args.repeats)
    load["after"] = os.getloadavg()
    entries = results(rows)
    print_table(entries, args.rounds, load)
    if args.json:
        gpu = any(r.device == "gpu" for r in rows)
        record = {"date": date, "device": args.device, "settle_s_before_cpu_rows": SETTLE_S,
                  "environment": environment(STANDARD, gpu), "load_average_1_5_15_min": load,
                  "rounds": args.rounds, "repeats": args.repeats, "rows": entries}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
