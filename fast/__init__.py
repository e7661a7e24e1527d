"""The fast path: the reference's GAN training in float32, for a population of P GANs at
once, with fused kernels: Numba on the CPU, CUDA (through CuPy) on a GPU.

fast/ mirrors reference/ file for file and function for function: the same names, the same
arguments in the same order, every buffer with a leading population axis P (x: (P, B, D),
theta: (P, n_params)). GAN p of a population is the reference GAN with seed seeds[p] and
noise level noises[p], and must agree with it to the tolerance tests/tolerance.py derives
from float32 and the reduction lengths; the random numbers are bit-identical.

    device.py   where arrays live (NumPy or CuPy), 'cpu' | 'gpu' | 'auto'
    noise.py    Philox4x32-10, normals, instance noise fused into the kernel that adds it
    data.py     toy-distribution samples, Philox + component choice + offset in one pass
    mlp.py      dense layers over flat buffers: BLAS GEMMs, fused bias+activation and its
                derivative
    loss.py     label noise + logistic loss + gradient + per-GAN mean in one kernel
    optim.py    Adam and SGD over the flat buffer of the whole population, one kernel
    gan.py      the population's training step with named intermediates, and the loop
    bench.py    python -m fast.bench: steps per second against the reference and PyTorch

Each public function dispatches on where its arrays live: `if device.on_gpu(x)` it runs the
CUDA kernels of the .cu file beside it, otherwise the Numba kernels above it.
"""
