"""Philox4x32-10 random numbers and instance noise, float32, with a leading population axis.

The same streams as reference/noise.py, bit for bit: GAN p draws from its own key key[p],
and element i of a (key, step, stream) stream is word i % 4 of
Philox(counter(i // 4, step, stream), key). Uniforms and normals use the reference's
float64 formulas and are rounded to float32 only where they meet float32 data, so
decisions taken on a uniform (a label flip, a mixture component) are identical to the
reference's.

Instance noise is never materialised: `add_instance_noise` runs Philox, Box-Muller, the
scale by sigma[p] and the add in one pass over x, one Philox call per four elements.

Shapes: key (P, 2) uint32, x (P, B, D) float32, sigma (P,) float32. On the CPU the
kernels are Numba, parallel over the population and the Philox blocks; on the GPU they
are the CUDA kernels of fast/noise.cu.
"""

import math

import numpy as np
from numba import njit, prange

from fast import device
from reference.noise import (
    MASK32,
    PHILOX_M0,
    PHILOX_M1,
    PHILOX_ROUNDS,
    PHILOX_W0,
    PHILOX_W1,
    TWO_POW_MINUS_32,
    uniform_from_words,
)

# Numba types mixed signed/unsigned integer arithmetic as float64, so every constant the
# kernels combine with uint64 words is itself a uint64 (the reference's, widened).
_M0, _M1, _MASK = np.uint64(PHILOX_M0), np.uint64(PHILOX_M1), np.uint64(MASK32)
_W0, _W1 = np.uint64(PHILOX_W0), np.uint64(PHILOX_W1)
_SHIFT = np.uint64(32)
_TWO_POW_MINUS_32 = TWO_POW_MINUS_32
_TWO_PI = 2.0 * math.pi


@njit(inline="always", error_model="numpy")
def philox_block(c0, c1, c2, c3, k0, k1, rounds):
    """Philox4x32 of one counter (c0..c3) under key (k0, k1); all uint64 words < 2**32."""
    for r in range(rounds):
        if r > 0:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _SHIFT) ^ c1 ^ k0, p1 & _MASK, (p0 >> _SHIFT) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


@njit(inline="always", error_model="numpy")
def stream_block(k0, k1, block, step, stream):
    """The four words of block `block` of a (key, step, stream) stream, as uint64."""
    return philox_block(
        np.uint64(block) & _MASK,
        np.uint64(block) >> _SHIFT,
        np.uint64(step),
        np.uint64(stream),
        np.uint64(k0),
        np.uint64(k1),
        PHILOX_ROUNDS,
    )


@njit(inline="always", error_model="numpy")
def uniform_of(word):
    """uint32 word -> float64 in (0, 1), the reference formula."""
    return (np.float64(word) + 0.5) * _TWO_POW_MINUS_32


@njit(inline="always", error_model="numpy")
def box_muller(w0, w1, w2, w3):
    """The four standard normals (float64) of one Philox block, the reference formula."""
    r0 = math.sqrt(-2.0 * math.log(uniform_of(w0)))
    a0 = _TWO_PI * uniform_of(w1)
    r1 = math.sqrt(-2.0 * math.log(uniform_of(w2)))
    a1 = _TWO_PI * uniform_of(w3)
    return r0 * math.cos(a0), r0 * math.sin(a0), r1 * math.cos(a1), r1 * math.sin(a1)


@njit(cache=True, error_model="numpy")
def _philox4x32_cpu(counter, key, rounds):
    out = np.empty_like(counter)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for i in range(counter.shape[0]):
        w = philox_block(
            np.uint64(counter[i, 0]),
            np.uint64(counter[i, 1]),
            np.uint64(counter[i, 2]),
            np.uint64(counter[i, 3]),
            k0,
            k1,
            rounds,
        )
        for j in range(4):
            out[i, j] = np.uint32(w[j])
    return out


def philox4x32(counter, key, rounds: int = PHILOX_ROUNDS):
    """counter: (N, 4) uint32, key: (2,) uint32 -> (N, 4) uint32."""
    if device.on_gpu(counter):
        return _philox4x32_gpu(counter, key, rounds)
    return _philox4x32_cpu(
        np.ascontiguousarray(counter, dtype=np.uint32), np.asarray(key, np.uint32), rounds
    )


@njit(parallel=True, cache=True, error_model="numpy")
def _random_words_cpu(key, step, stream, n):
    P, n_blocks = key.shape[0], (n + 3) // 4
    out = np.empty((P, n), dtype=np.uint32)
    for pb in prange(P * n_blocks):
        p, block = pb // n_blocks, pb % n_blocks
        w = stream_block(key[p, 0], key[p, 1], block, step, stream)
        for j in range(4):
            if 4 * block + j < n:
                out[p, 4 * block + j] = np.uint32(w[j])
    return out


def random_words(key, step: int, stream: int, n: int):
    """key: (P, 2) uint32 -> (P, n) uint32, row p the reference's random_words(key[p], ...)."""
    if device.on_gpu(key):
        return _random_words_gpu(key, step, stream, n)
    return _random_words_cpu(np.asarray(key, np.uint32), step, stream, n)


def uniform(key, step: int, stream: int, n: int):
    """key: (P, 2) uint32 -> (P, n) float64 uniforms in (0, 1), bit-identical to the
    reference's (the conversion is exact in float64)."""
    return uniform_from_words(random_words(key, step, stream, n))


@njit(error_model="numpy")
def normal_one(out, k0, k1, step, stream):
    """out: (n,) float32 <- one GAN's standard normals of a stream, rounded once."""
    n = out.shape[0]
    for block in range((n + 3) // 4):
        w = stream_block(k0, k1, block, step, stream)
        z = box_muller(w[0], w[1], w[2], w[3])
        for j in range(min(4, n - 4 * block)):
            out[4 * block + j] = np.float32(z[j])


@njit(parallel=True, cache=True, error_model="numpy")
def _normal_cpu(key, step, stream, n):
    out = np.empty((key.shape[0], n), dtype=np.float32)
    for p in prange(key.shape[0]):
        normal_one(out[p], key[p, 0], key[p, 1], step, stream)
    return out


def normal(key, step: int, stream: int, shape: tuple[int, ...]):
    """key: (P, 2) uint32 -> (P, *shape) float32 standard normals, computed in float64 with
    the reference's formula and rounded once."""
    n = int(np.prod(shape))
    if device.on_gpu(key):
        return _normal_gpu(key, step, stream, n).reshape((key.shape[0], *shape))
    return _normal_cpu(np.asarray(key, np.uint32), step, stream, n).reshape((key.shape[0], *shape))


@njit(error_model="numpy")
def instance_noise_one(out, x, sigma, k0, k1, step, stream):
    """out = x + sigma * eps for one GAN's flat (n,) float32 x, one Philox call per four
    elements; each sum is formed in float64 and rounded once."""
    n = x.shape[0]
    for block in range((n + 3) // 4):
        w = stream_block(k0, k1, block, step, stream)
        z = box_muller(w[0], w[1], w[2], w[3])
        for j in range(min(4, n - 4 * block)):
            i = 4 * block + j
            out[i] = np.float32(np.float64(x[i]) + sigma * z[j])


@njit(parallel=True, cache=True, error_model="numpy")
def _add_instance_noise_cpu(x, sigma, key, step, stream):
    out = np.empty_like(x)
    for p in prange(x.shape[0]):
        instance_noise_one(out[p], x[p], np.float64(sigma[p]), key[p, 0], key[p, 1], step, stream)
    return out


def add_instance_noise(x, sigma, key, step: int, stream: int):
    """x: (P, B, D) float32 -> x + sigma[p] * eps, eps ~ N(0, I) from the given stream.
    Fused: no noise array is formed. sigma[p] = 0 returns x[p] exactly."""
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
        instance_noise_one(out[p, :n], x_real[p], s, k0, k1, step, real_stream)
        instance_noise_one(out[p, n:], x_fake[p], s, k0, k1, step, fake_stream)
    return out


def noisy_discriminator_input(x_real, x_fake, sigma, key, step: int, real_stream, fake_stream):
    """x_real, x_fake: (P, B, D) float32 -> D's input (P, 2B, D): the noisy real samples,
    then the noisy fake ones, each exactly add_instance_noise of its own stream, written in
    one pass straight into the buffer D reads."""
    if device.on_gpu(x_real):
        return _noisy_discriminator_input_gpu(
            x_real, x_fake, sigma, key, step, real_stream, fake_stream
        )
    P, B, D = x_real.shape
    out = _noisy_discriminator_input_cpu(
        np.ascontiguousarray(x_real, dtype=np.float32).reshape(P, -1),
        np.ascontiguousarray(x_fake, dtype=np.float32).reshape(P, -1),
        np.asarray(sigma, np.float32),
        np.asarray(key, np.uint32),
        step,
        real_stream,
        fake_stream,
    )
    return out.reshape(P, 2 * B, D)


# The GPU path: the kernels of fast/noise.cu, one thread per output element.


def _philox4x32_gpu(counter, key, rounds):
    import cupy

    counter = cupy.ascontiguousarray(counter, dtype=np.uint32)
    out = cupy.empty_like(counter)
    n = counter.shape[0]
    key = cupy.asarray(key, dtype=np.uint32)
    device.launch(
        "noise.cu", "philox4x32_kernel", n, counter, key, np.int32(rounds), np.int64(n), out
    )
    return out


def _random_words_gpu(key, step, stream, n):
    import cupy

    P = key.shape[0]
    out = cupy.empty((P, n), dtype=np.uint32)
    device.launch(
        "noise.cu",
        "random_words_kernel",
        P * n,
        cupy.ascontiguousarray(key, dtype=np.uint32),
        device.step_word(step),
        np.uint32(stream),
        np.int32(P),
        np.int64(n),
        out,
    )
    return out


def _normal_gpu(key, step, stream, n):
    import cupy

    out = cupy.empty((key.shape[0], n), dtype=np.float32)
    normal_into_gpu(out, cupy.ascontiguousarray(key, dtype=np.uint32), step, stream)
    return out


def normal_into_gpu(out, key, step, stream: int) -> None:
    """out: (P, ...) contiguous float32 <- GAN p's standard normals of the stream (row-major
    element order), on the GPU; key (P, 2) uint32 on the device, step an int or a (1,)
    uint32 device array."""
    P = out.shape[0]
    device.launch(
        "noise.cu",
        "normal_kernel",
        out.size,
        key,
        device.step_word(step),
        np.uint32(stream),
        np.int32(P),
        np.int64(out.size // P),
        out,
    )


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
    """out = x + sigma[p] * eps on the GPU, fused; out, x: (P, B, D) contiguous float32 (out
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

    P, B, D = x_real.shape
    out = cupy.empty((P, 2 * B, D), dtype=np.float32)
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
    out[:, B:] = x_fake + sigma * eps_fake. out: (P, 2B, D); x_real, x_fake: (P, B, D), all
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
