"""Instance noise on a population, float32, fused: the reference's add_instance_noise
without ever forming the noise array.

`add_instance_noise` runs Philox, Box-Muller, the scale by sigma[p] and the add in one pass
over x, one Philox call per four elements, each sum formed in float64 and rounded once;
`noisy_discriminator_input` does it for the real and the fake samples at once, straight
into the (P, 2B, dim) buffer D reads. The numbers are the reference's: GAN p draws eps from
the same stream of its own key.

Label noise is fused into the discriminator's loss kernel (fast/loss.py), and the sigma
schedules need no speed: fast/gan.py uses the reference's.

Shapes: key (P, 2) uint32, x (P, B, dim) float32, sigma (P,) float32. On the CPU the
kernels are Numba, parallel over the population; on the GPU the CUDA kernels of
fast/noise.cu.
"""

import numpy as np
from numba import njit, prange

from fast import device
from fast.philox import box_muller, stream_block, words_in
from reference.philox import Stream, SubstepRandom


@njit(error_model="numpy")
def instance_noise_one(out, x, sigma, k0, k1, step, stream, first, stop):
    """out = x + sigma * eps on elements first .. stop - 1 of one GAN's flat (n,) float32
    x, one Philox call per four elements (any range is drawn as the whole would be); each
    sum is formed in float64 and rounded once."""
    for block in range(first // 4, (stop + 3) // 4):
        w = stream_block(k0, k1, block, step, stream)
        z = box_muller(w[0], w[1], w[2], w[3])
        for j in range(*words_in(block, first, stop)):
            i = 4 * block + j
            out[i] = np.float32(np.float64(x[i]) + sigma * z[j])


@njit(parallel=True, cache=True, error_model="numpy")
def _add_instance_noise_cpu(x, sigma, key, step, stream):
    out = np.empty_like(x)
    for p in prange(x.shape[0]):
        instance_noise_one(out[p], x[p], np.float64(sigma[p]), key[p, 0], key[p, 1], step, stream,
                           0, x.shape[1])  # fmt: skip
    return out


def add_instance_noise(x, sigma, rng: SubstepRandom, kind: Stream):
    """x: (P, B, dim) float32 -> x + sigma[p] * eps, eps ~ N(0, I) from the substep's `kind`
    stream of GAN p's key (rng.key: (P, 2)). Fused: no noise array is formed. sigma[p] = 0
    returns x[p] exactly."""
    key, step, stream = rng.key, rng.step, rng.stream(kind)
    if device.on_gpu(x):
        return _add_instance_noise_gpu(x, sigma, key, step, stream)
    P = x.shape[0]
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(P, -1)
    sigma = np.asarray(sigma, np.float32)
    return _add_instance_noise_cpu(flat, sigma, np.asarray(key, np.uint32), step, stream).reshape(
        x.shape
    )


@njit(parallel=True, cache=True, error_model="numpy")
def _noisy_discriminator_input_cpu(x_real, x_fake, sigma, key, step, real_stream, fake_stream):
    P, n = x_real.shape
    out = np.empty((P, 2 * n), dtype=np.float32)
    for p in prange(P):
        s, k0, k1 = np.float64(sigma[p]), key[p, 0], key[p, 1]
        instance_noise_one(out[p, :n], x_real[p], s, k0, k1, step, real_stream, 0, n)
        instance_noise_one(out[p, n:], x_fake[p], s, k0, k1, step, fake_stream, 0, n)
    return out


def noisy_discriminator_input(x_real, x_fake, sigma, rng: SubstepRandom):
    """x_real, x_fake: (P, B, dim) float32 -> D's input (P, 2B, dim): the noisy real
    samples, then the noisy fake ones, each exactly add_instance_noise of its own stream
    (REAL_NOISE, FAKE_NOISE), written in one pass straight into the buffer D reads."""
    key, step = rng.key, rng.step
    real_stream, fake_stream = rng.stream(Stream.REAL_NOISE), rng.stream(Stream.FAKE_NOISE)
    if device.on_gpu(x_real):
        return _noisy_discriminator_input_gpu(
            x_real, x_fake, sigma, key, step, real_stream, fake_stream
        )
    P, B, dim = x_real.shape
    out = _noisy_discriminator_input_cpu(
        np.ascontiguousarray(x_real, dtype=np.float32).reshape(P, -1),
        np.ascontiguousarray(x_fake, dtype=np.float32).reshape(P, -1),
        np.asarray(sigma, np.float32),
        np.asarray(key, np.uint32),
        step,
        real_stream,
        fake_stream,
    )
    return out.reshape(P, 2 * B, dim)


# The GPU path: the kernels of fast/noise.cu, one thread per output element.


def _add_instance_noise_gpu(x, sigma, key, step, stream):
    import cupy

    out = cupy.empty(x.shape, dtype=np.float32)
    add_instance_noise_into_gpu(
        out,
        cupy.ascontiguousarray(x, dtype=np.float32),
        cupy.asarray(sigma, dtype=np.float32),
        cupy.ascontiguousarray(key, dtype=np.uint32),
        step,
        stream,
    )
    return out


def add_instance_noise_into_gpu(out, x, sigma, key, step, stream: int) -> None:
    """out = x + sigma[p] * eps on the GPU, fused; out, x: (P, B, dim) contiguous float32 (out
    may be x), sigma (P,) float32, key (P, 2) uint32 on the device; step an int or a (1,)
    uint32 device array."""
    P = x.shape[0]
    device.launch(
        "noise.cu",
        "add_instance_noise_kernel",
        x.size,
        x,
        sigma,
        key,
        device.step_word(step),
        np.uint32(stream),
        np.int32(P),
        np.int64(x.size // P),
        out,
    )


def _noisy_discriminator_input_gpu(x_real, x_fake, sigma, key, step, real_stream, fake_stream):
    import cupy

    P, B, dim = x_real.shape
    out = cupy.empty((P, 2 * B, dim), dtype=np.float32)
    noisy_discriminator_input_into_gpu(
        out,
        cupy.ascontiguousarray(x_real, dtype=np.float32),
        cupy.ascontiguousarray(x_fake, dtype=np.float32),
        cupy.asarray(sigma, dtype=np.float32),
        cupy.ascontiguousarray(key, dtype=np.uint32),
        step,
        real_stream,
        fake_stream,
    )
    return out


def noisy_discriminator_input_into_gpu(
    out, x_real, x_fake, sigma, key, step, real_stream: int, fake_stream: int
) -> None:
    """D's input on the GPU, one pass, no noise array: out[:, :B] = x_real + sigma * eps_real,
    out[:, B:] = x_fake + sigma * eps_fake. out: (P, 2B, dim); x_real, x_fake: (P, B, dim), all
    contiguous float32 on the device; step an int or a (1,) uint32 device array."""
    P, n = x_real.shape[0], x_real.shape[1] * x_real.shape[2]
    device.launch(
        "noise.cu",
        "noise_pair_kernel",
        2 * P * n,
        x_real,
        x_fake,
        sigma,
        key,
        device.step_word(step),
        np.uint32(real_stream),
        np.uint32(fake_stream),
        np.int32(P),
        np.int64(n),
        out,
    )
