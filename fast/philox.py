"""Philox4x32-10 random numbers on a population of keys, float32 normals: the streams of
reference/philox.py, bit for bit.

GAN p draws from its own key key[p], and element i of a (key, step, stream) stream is word
i % 4 of Philox(counter(i // 4, step, stream), key). Uniforms and normals use the
reference's float64 formulas and are rounded to float32 only where they meet float32 data,
so decisions taken on a uniform (a label flip, a mixture component) are identical to the
reference's. The per-substep view, SubstepRandom, is the reference's own: the kernels here
read its key (P, 2), step and stream(kind).

The `*_one` functions and `stream_block`, `box_muller` are the Numba building blocks the
other kernels of fast/ (data, noise, loss, the fused step) inline to draw their numbers
where they use them.

Shapes: key (P, 2) uint32 -> (P, n) words or (P, *shape) float32 normals. On the CPU the
kernels are Numba, parallel over the population and the Philox blocks; on the GPU they are
the CUDA kernels of fast/philox.cu.
"""

import math

import numpy as np
from numba import njit, prange

from fast import device
from reference.philox import (
    MASK32,
    PHILOX_M0,
    PHILOX_M1,
    PHILOX_ROUNDS,
    PHILOX_W0,
    PHILOX_W1,
    TWO_POW_MINUS_32,
    Stream,
    SubstepRandom,
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
def words_in(block, first, stop):
    """(j0, j1): the words j of Philox block `block` whose stream elements 4 block + j lie
    in first .. stop - 1 (a range of a stream is drawn block by block, as the whole is)."""
    return max(first - 4 * block, 0), min(4, stop - 4 * block)


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
def normal_one(out, k0, k1, step, stream, first, stop):
    """out[first:stop] <- elements first .. stop - 1 of one GAN's standard normals of a
    stream, rounded once (out: (n,) float32; each element is its own block's, so any range
    is drawn as the whole would be)."""
    for block in range(first // 4, (stop + 3) // 4):
        w = stream_block(k0, k1, block, step, stream)
        z = box_muller(w[0], w[1], w[2], w[3])
        for j in range(*words_in(block, first, stop)):
            out[4 * block + j] = np.float32(z[j])


@njit(parallel=True, cache=True, error_model="numpy")
def _normal_cpu(key, step, stream, n):
    out = np.empty((key.shape[0], n), dtype=np.float32)
    for p in prange(key.shape[0]):
        normal_one(out[p], key[p, 0], key[p, 1], step, stream, 0, n)
    return out


def normal(key, step: int, stream: int, shape: tuple[int, ...]):
    """key: (P, 2) uint32 -> (P, *shape) float32 standard normals, computed in float64 with
    the reference's formula and rounded once."""
    n = int(np.prod(shape))
    if device.on_gpu(key):
        return _normal_gpu(key, step, stream, n).reshape((key.shape[0], *shape))
    return _normal_cpu(np.asarray(key, np.uint32), step, stream, n).reshape((key.shape[0], *shape))


def substep_normal(rng: SubstepRandom, kind: Stream, shape: tuple[int, ...]):
    """(P, *shape) float32: the reference's rng.normal(kind, shape) for every GAN's key
    rng.key[p] at once."""
    return normal(rng.key, rng.step, rng.stream(kind), shape)


# The GPU path: the kernels of fast/philox.cu, one thread per output element.


def _philox4x32_gpu(counter, key, rounds):
    import cupy

    counter = cupy.ascontiguousarray(counter, dtype=np.uint32)
    out = cupy.empty_like(counter)
    n = counter.shape[0]
    key = cupy.asarray(key, dtype=np.uint32)
    device.launch(
        "philox.cu", "philox4x32_kernel", n, counter, key, np.int32(rounds), np.int64(n), out
    )
    return out


def _random_words_gpu(key, step, stream, n):
    import cupy

    P = key.shape[0]
    out = cupy.empty((P, n), dtype=np.uint32)
    device.launch(
        "philox.cu",
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
        "philox.cu",
        "normal_kernel",
        out.size,
        key,
        device.step_word(step),
        np.uint32(stream),
        np.int32(P),
        np.int64(out.size // P),
        out,
    )
