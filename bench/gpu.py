"""The GPU rows, and the GPU's FP32 peak their GEMM GFLOP/s is judged by:

    fast          P in {1, 64, 1024}: 'train_step', fast.gan.train_step (every kernel and
                  GEMM launched from Python, bench/steps.py's fast_row); 'preallocated',
                  GraphStep run eagerly over buffers allocated once; 'graph', GraphStep
                  replayed as one CUDA graph
    torch         bench/baselines.py's torch_row on CUDA, P = 1
    matmuls-only  the step's cuBLAS calls alone, same shapes, strided-batched over P

The peak is FP32 without tensor cores or TF32, from the SM count and clock (gpu_fp32_peak).
Nothing here runs without CuPy and a CUDA device.
"""

import functools

import numpy as np

from bench.baselines import torch_row
from bench.steps import fast_row, gemm_flops_per_gan_step, population_config, training_row
from bench.timing import Row, gpu_threads, warmed_up
from fast import gan as fast_gan


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
        (f"matmuls-only gpu P={P}", functools.partial(matmuls_only_gpu_row, config, P))
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


def matmuls_only_gpu_row(config, population: int) -> Row:
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
