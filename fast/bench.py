"""python -m fast.bench [--json FILE]: one training step of the standard configuration,
timed side by side for every implementation available here, in one run.

The standard configuration: `ring` data, latent 8, two hidden layers of 128 in each network
(ReLU in G, LeakyReLU 0.2 in D), batch 256 real + 256 fake, Adam, sigma = 0.1, one D step
and one G step. Rows (one per implementation, device and population size P):

    reference     the float64 NumPy reference, P = 1
    fast          fast.gan.train_step, P GANs at once (CPU: P in {1, 16}, plus the
                  'composed' variant: the public kernels one stage at a time; GPU: P in
                  {1, 64, 1024}, each as three variants: train_step, GraphStep eager over
                  preallocated buffers ('preallocated'), and GraphStep replayed as one
                  CUDA graph ('graph'))
    torch         the same networks, loss, noise and Adam written in plain PyTorch eager
                  (only if torch imports; its fastest Adam: fused, else foreach)
    matmuls-only  the fast step's GEMMs alone, same shapes and threading, no elementwise
                  work: the BLAS limit of this design

Every figure is the median over repeats of a block of steps, after warm-up steps that
exclude JIT compilation, with the device synchronised before the clock is read. The
table gives steps per second (a step advances all P GANs), GAN-steps per second, the GEMM
GFLOP/s that implies and each row's ratio to the reference and to fast at P = 1; --json
also records the device, library versions, the BLAS and its OPENBLAS_* settings. GPU rows
also carry the GPU's name and that GFLOP/s as a fraction of its FP32 (no tensor core, no
TF32) peak. --device gpu runs only the reference and the GPU rows.
"""

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numba import njit, prange

from fast import device
from fast import gan as fast_gan
from reference import gan as reference_gan
from reference import mlp as reference_mlp
from reference.data import get_dataset
from reference.philox import SubstepRandom

STANDARD = reference_gan.GANConfig(sigma0=0.1)
CPU_POPULATIONS = (1, 16)
GPU_POPULATIONS = (1, 64, 1024)
SEED = 0


def gemm_flops_per_gan_step(config: reference_gan.GANConfig) -> int:
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


def seconds_per_step(
    step: Callable[[int], object], where: str, warmup: int, repeats: int, block: int
) -> float:
    """Median over `repeats` of the mean time of `block` consecutive steps, after `warmup`
    steps (JIT compilation, cuBLAS handles, caches)."""
    for s in range(warmup):
        step(s)
    synchronize(where)
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        for s in range(block):
            step(warmup + r * block + s)
        synchronize(where)
        times.append((time.perf_counter() - start) / block)
    return float(np.median(times))


def row(impl: str, where: str, population: int, seconds: float, config) -> dict:
    return {
        "impl": impl,
        "device": where,
        "population": population,
        "steps_per_s": 1.0 / seconds,
        "gan_steps_per_s": population / seconds,
        "gemm_gflops": population * gemm_flops_per_gan_step(config) / seconds / 1e9,
    }


def population_config(config, population: int) -> fast_gan.PopulationConfig:
    return fast_gan.PopulationConfig.seeded(
        config, tuple(range(SEED, SEED + population)), (config.sigma0,) * population
    )


def measure_reference(config, repeats: int) -> dict:
    state = reference_gan.init_state(config)
    seconds = seconds_per_step(
        lambda s: reference_gan.train_step(config, state, s), "cpu", 2, repeats, 2
    )
    return row("reference", "cpu", 1, seconds, config)


def measure_fast(config, where: str, population: int, repeats: int) -> dict:
    pop = population_config(config, population)
    state = fast_gan.init_state(pop, where)
    seconds = seconds_per_step(lambda s: fast_gan.train_step(pop, state, s), where, 5, repeats, 10)
    return row("fast", where, population, seconds, config)


def measure_composed_cpu(config, population: int, repeats: int) -> dict:
    """fast's readable version on the CPU, the composition of its public kernels
    (fast.gan.discriminator_substep and generator_substep, one Numba kernel per stage), to
    set against the fused step of the 'fast' rows, which computes the same bits."""
    pop = population_config(config, population)
    state = fast_gan.init_state(pop, "cpu")

    def step(s):
        sigma = pop.sigma(s)
        for substep in range(config.d_steps):
            rng = SubstepRandom(state.keys, s, substep)
            fast_gan.discriminator_substep(pop, state, rng, sigma)
        fast_gan.generator_substep(pop, state, SubstepRandom(state.keys, s, config.d_steps), sigma)

    seconds = seconds_per_step(step, "cpu", 5, repeats, 10)
    return {**row("fast", "cpu", population, seconds, config), "variant": "composed"}


@njit(error_model="numpy")
def _gemm_pass(theta, w_off, sizes, h, acts, out, backward, param_grad, dtheta):
    """The GEMMs of one fast.mlp pass on h (n, n0), in its order and shapes: forward
    h_l @ W_l; backward (from the output, reading `out` as dy) h_l^T @ da and da @ W_l^T.
    acts: (L, n * widest) stands in for every layer's buffer."""
    n, n_layers = h.shape[0], sizes.shape[0] - 1
    for i in range(n_layers):
        layer = n_layers - 1 - i if backward else i
        n_in, n_out = sizes[layer], sizes[layer + 1]
        W = theta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        h_in = h if layer == 0 else acts[layer - 1, : n * n_in].reshape(n, n_in)
        h_out = out if layer == n_layers - 1 else acts[layer, : n * n_out].reshape(n, n_out)
        if not backward:
            np.dot(h_in, W, h_out)
            continue
        if param_grad:
            dW = dtheta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
            np.dot(h_in.T, h_out, dW)
        np.dot(h_out, W.T, h_in)


@njit(error_model="numpy")
def _matmuls_one(p, G, D, z, x, d_steps):
    """GAN p's GEMMs of fast.gan.train_step: per D substep G forward (B rows), D forward and
    full backward (2B rows); then G forward, D forward and input-gradient backward and G's
    full backward (B rows). G and D: (theta, dtheta, acts, out, sizes, w_off)."""
    theta_G, dtheta_G, acts_G, out_G, sizes_G, w_G = G
    theta_D, dtheta_D, acts_D, out_D, sizes_D, w_D = D
    B = z.shape[1]
    for substep in range(d_steps + 1):
        d_substep = substep < d_steps
        n = 2 * B if d_substep else B
        zp, xp, out_Dp = z[p], x[p, :n], out_D[p, :n]
        _gemm_pass(theta_G[p], w_G, sizes_G, zp, acts_G[p], out_G[p], False, False, dtheta_G[p])
        _gemm_pass(theta_D[p], w_D, sizes_D, xp, acts_D[p], out_Dp, False, False, dtheta_D[p])
        _gemm_pass(theta_D[p], w_D, sizes_D, xp, acts_D[p], out_Dp, True, d_substep, dtheta_D[p])
        if not d_substep:
            _gemm_pass(theta_G[p], w_G, sizes_G, zp, acts_G[p], out_G[p], True, True, dtheta_G[p])


@njit(cache=True, error_model="numpy")
def _matmuls_only_serial(G, D, z, x, d_steps):
    for p in range(z.shape[0]):
        _matmuls_one(p, G, D, z, x, d_steps)


@njit(parallel=True, cache=True, error_model="numpy")
def _matmuls_only_parallel(G, D, z, x, d_steps):
    for p in prange(z.shape[0]):
        _matmuls_one(p, G, D, z, x, d_steps)


def measure_matmuls_only(config, where: str, population: int, repeats: int) -> dict:
    """The fast step's GEMMs alone, threaded as the fast step is (serial at P = 1, one GAN
    per thread above, BLAS single-threaded)."""
    if where == "gpu":
        return _measure_matmuls_only_gpu(config, population, repeats)
    spec_G, spec_D = config.generator_spec(), config.discriminator_spec()
    B, P = config.batch, population
    widest = max(*spec_G.sizes, *spec_D.sizes)
    state = fast_gan.init_state(population_config(config, P), "cpu")

    def network(spec, theta, rows: int, n_out: int):
        offsets = np.array([w for w, _, _ in spec.offsets()], np.int64)
        acts = np.ones((P, spec.n_layers, rows * widest), np.float32)
        out = np.ones((P, rows, n_out), np.float32)
        return theta, np.zeros_like(theta), acts, out, np.array(spec.sizes, np.int64), offsets

    G = network(spec_G, state.theta_G, B, config.dim)
    D = network(spec_D, state.theta_D, 2 * B, 1)
    z = np.ones((P, B, config.latent), np.float32)
    x = np.ones((P, 2 * B, config.dim), np.float32)
    kernel = _matmuls_only_parallel if P > 1 else _matmuls_only_serial

    def step(_):
        device.single_threaded_blas()
        kernel(G, D, z, x, config.d_steps)

    seconds = seconds_per_step(step, "cpu", 5, repeats, 10)
    return row("matmuls-only", "cpu", P, seconds, config)


def measure_torch(config, where: str, repeats: int) -> dict | None:
    """The same step in plain PyTorch eager: the same networks and initial parameters, the
    ring's mixture sampled with torch's own generator, instance noise on real and fake, the
    logistic loss, Adam (fused where this torch has it, else foreach). None without torch."""
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
            x_real = means[component] + stds[component] * torch.randn(B, 2, device=torch_device)
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

    seconds = seconds_per_step(step, where, 5, repeats, 10)
    return row("torch", where, 1, seconds, config) | {"adam": adam}


def environment(config) -> dict:
    """What the numbers depend on: the machine, the libraries, the BLAS and its settings."""
    import numba
    import scipy

    env = {
        "device": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        # other work on the machine slows every row, the multithreaded ones most
        "load_average_1_5_15_min": os.getloadavg(),
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
    with open("/proc/cpuinfo") if os.path.exists("/proc/cpuinfo") else open(os.devnull) as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    env["cpu"] = names[0] if names else platform.processor()
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    return env


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


def measure_all(
    config, repeats: int, populations_gpu: tuple[int, ...], where: str = "all"
) -> list[dict]:
    """where: 'all' (the CPU rows, then the GPU's if there is one), 'cpu' or 'gpu'; the
    reference row always comes first, as every ratio's baseline."""
    rows = [measure_reference(config, repeats)]
    if where in ("all", "cpu"):
        rows += [measure_fast(config, "cpu", P, repeats) for P in CPU_POPULATIONS]
        rows += [measure_composed_cpu(config, P, repeats) for P in CPU_POPULATIONS]
        torch_row = measure_torch(config, "cpu", repeats)
        rows += [torch_row] if torch_row else []
        rows += [measure_matmuls_only(config, "cpu", P, repeats) for P in CPU_POPULATIONS]
    if where == "gpu" or (where == "all" and device.gpu_available()):
        rows += gpu_rows(config, repeats, populations_gpu)
    return rows


def gpu_rows(config, repeats: int, populations: tuple[int, ...]) -> list[dict]:
    """The GPU rows: fast as train_step (every kernel and GEMM launched from Python, buffers
    from CuPy's pool) and as GraphStep, eager over preallocated buffers and replayed as one
    CUDA graph; PyTorch CUDA eager at P = 1; the step's cuBLAS GEMMs alone. Each row also
    gets its GEMM FLOP rate as a fraction of the GPU's FP32 peak. A row that fails prints
    why and is left out, so the others still come out."""
    import cupy

    name, peak, source = gpu_fp32_peak()
    print(f"GPU: {name}, FP32 peak {peak / 1e12:.1f} TFLOP/s = {source}", flush=True)
    measurements = []
    for P in populations:
        measurements += [
            (f"fast train_step P={P}", partial(measure_fast_train_step_gpu, config, P, repeats)),
            (f"fast eager P={P}", partial(measure_graph_step, config, P, repeats, False)),
            (f"fast graph P={P}", partial(measure_graph_step, config, P, repeats, True)),
        ]
    measurements.append(("torch", partial(measure_torch, config, "gpu", repeats)))
    measurements += [
        (f"matmuls-only P={P}", partial(measure_matmuls_only, config, "gpu", P, repeats))
        for P in populations
    ]
    rows = []
    for label, measure in measurements:
        try:
            r = measure()
        except Exception as error:  # one broken row must not cost the others
            print(f"{label}: failed: {error!r}", flush=True)
            r = None
        cupy.get_default_memory_pool().free_all_blocks()
        if r is None:
            continue
        r.update(
            gpu=name,
            fp32_peak_fraction=r["gemm_gflops"] * 1e9 / peak,
            fp32_peak_tflops=peak / 1e12,
            fp32_peak_source=source,
        )
        print(json.dumps(r), flush=True)
        rows.append(r)
    return rows


# Hopper (sm_90) has 128 FP32 lanes per SM; one FMA is 2 FLOP. 132 SMs at the 1.98 GHz
# boost clock give 66.9 TFLOP/s, NVIDIA's 67 TFLOP/s FP32 for the H100 SXM5 and the H200.
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
        f"{sms} SMs x {FP32_LANES_PER_SM} FP32 lanes x 2 FLOP x {clock_khz / 1e6:.2f} GHz "
        f"({clock_source})"
    )
    return name, peak, source


def measure_fast_train_step_gpu(config, population: int, repeats: int) -> dict:
    return {**measure_fast(config, "gpu", population, repeats), "variant": "train_step"}


def measure_graph_step(config, population: int, repeats: int, use_graph: bool) -> dict:
    """fast/graph_step_gpu.py: the step over preallocated buffers, eager or as one CUDA graph."""
    from fast.graph_step_gpu import GraphStep

    pop = population_config(config, population)
    graph_step = GraphStep(pop, fast_gan.init_state(pop, "gpu"), use_graph=use_graph)
    seconds = seconds_per_step(graph_step, "gpu", 5, repeats, 10)
    captured = graph_step.graph is not None
    variant = "graph" if captured else ("graph capture failed" if use_graph else "preallocated")
    return {**row("fast", "gpu", population, seconds, config), "variant": variant}


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


def _measure_matmuls_only_gpu(config, population: int, repeats: int) -> dict:
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

    seconds = seconds_per_step(step, "gpu", 5, repeats, 10)
    return row("matmuls-only", "gpu", population, seconds, config)


def print_table(rows: list[dict]) -> None:
    reference = next(r for r in rows if r["impl"] == "reference")["gan_steps_per_s"]
    fast_one = {
        r["device"]: r["gan_steps_per_s"]
        for r in rows
        if r["impl"] == "fast" and r["population"] == 1 and r.get("variant") != "composed"
    }
    print(
        f"{'impl':26s} {'device':6s} {'P':>5s} {'steps/s':>10s} {'GAN-steps/s':>12s} "
        f"{'GEMM GFLOP/s':>12s} {'x reference':>11s} {'x fast P=1':>10s}"
    )
    for r in rows:
        print(
            f"{r['impl'] + ('/' + r['variant'] if 'variant' in r else ''):26s} "
            f"{r['device']:6s} {r['population']:5d} {r['steps_per_s']:10.1f} "
            f"{r['gan_steps_per_s']:12.1f} {r['gemm_gflops']:12.2f} "
            f"{r['gan_steps_per_s'] / reference:11.2f} "
            f"{r['gan_steps_per_s'] / fast_one.get(r['device'], np.nan):10.2f}"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fast.bench",
        description="Time one training step of the standard configuration for every implementation "
        "available here, side by side.",
    )
    parser.add_argument("--json", help="also write the rows and the environment to this file")
    parser.add_argument("--repeats", type=int, default=15, help="timed blocks per row")
    parser.add_argument(
        "--device",
        choices=("all", "cpu", "gpu"),
        default="all",
        help="which rows besides the reference: all (the GPU's where present), cpu or gpu",
    )
    args = parser.parse_args(argv)
    rows = measure_all(STANDARD, args.repeats, GPU_POPULATIONS, args.device)
    print_table(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": environment(STANDARD), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
