"""Toy-distribution samples, float32, with a leading population axis.

The same streams as reference/data.py: GAN p's batch is the reference's sample(key[p], ...)
rounded to float32. The component of each sample is chosen on the float64 uniform with the
reference's inverse CDF, so it is the same component; Philox, the choice and the offset are
one pass (one Numba kernel on the CPU, fast/data.cu on the GPU).

Shapes: key (P, 2) uint32 -> samples (P, n, D) float32.
"""

import functools
import math

import numpy as np
from numba import njit, prange

from fast import device
from fast.noise import box_muller, stream_block, uniform_of
from reference import data
from reference.noise import Stream, stream_id

_TWO_PI = 2.0 * math.pi


@njit(parallel=True, cache=True)
def _sample_mixture_cpu(means, stds, cumulative, key, step, choice_stream, offset_stream, n):
    P, D, K = key.shape[0], means.shape[1], cumulative.shape[0]
    out = np.empty((P, n, D), dtype=np.float32)
    for p in prange(P):
        k0, k1 = key[p, 0], key[p, 1]
        component = np.empty(n, dtype=np.int64)
        for block in range((n + 3) // 4):
            w = stream_block(k0, k1, block, step, choice_stream)
            for j in range(4):
                i = 4 * block + j
                if i < n:
                    # searchsorted(side='right'), then min() against rounding in the last cumsum
                    component[i] = min(
                        np.searchsorted(cumulative, uniform_of(w[j]), side="right"), K - 1
                    )
        for block in range((n * D + 3) // 4):
            w = stream_block(k0, k1, block, step, offset_stream)
            z = box_muller(w[0], w[1], w[2], w[3])
            for j in range(4):
                e = 4 * block + j
                if e < n * D:
                    i, d = e // D, e % D
                    c = component[i]
                    out[p, i, d] = np.float32(means[c, d] + stds[c, d] * z[j])
    return out


@njit(parallel=True, cache=True)
def _sample_circle_cpu(radius, key, step, choice_stream, n):
    P = key.shape[0]
    out = np.empty((P, n, 2), dtype=np.float32)
    for p in prange(P):
        for block in range((n + 3) // 4):
            w = stream_block(key[p, 0], key[p, 1], block, step, choice_stream)
            for j in range(4):
                i = 4 * block + j
                if i < n:
                    angle = _TWO_PI * uniform_of(w[j])
                    out[p, i, 0] = np.float32(radius * math.cos(angle))
                    out[p, i, 1] = np.float32(radius * math.sin(angle))
    return out


def sample(distribution: data.Distribution, key, step: int, substep: int, n: int):
    """(P, n, D) float32: GAN p's batch of the reference's sample(distribution, key[p], ...)."""
    if device.on_gpu(key):
        return _sample_gpu(distribution, key, step, substep, n)
    key = np.asarray(key, np.uint32)
    choice_stream = stream_id(Stream.DATA_CHOICE, substep)
    if isinstance(distribution, data.Circle):
        return _sample_circle_cpu(float(distribution.radius), key, step, choice_stream, n)
    return _sample_mixture_cpu(
        distribution.means,
        distribution.stds,
        np.cumsum(distribution.weights),
        key,
        step,
        choice_stream,
        stream_id(Stream.DATA_OFFSET, substep),
        n,
    )


# The GPU path: the kernels of fast/data.cu, one thread per output element.


@functools.cache
def _mixture_tables_gpu(distribution: data.Mixture, cupy):
    """means, stds (K, D) and the cumulative weights (K,), float64 on the device, uploaded
    once per distribution."""
    return (
        cupy.asarray(distribution.means, dtype=np.float64),
        cupy.asarray(distribution.stds, dtype=np.float64),
        cupy.asarray(np.cumsum(distribution.weights), dtype=np.float64),
    )


def _sample_gpu(distribution, key, step, substep, n):
    import cupy

    out = cupy.empty((key.shape[0], n, distribution.dim), dtype=np.float32)
    sample_into_gpu(out, distribution, cupy.ascontiguousarray(key, dtype=np.uint32), step, substep)
    return out


def sample_into_gpu(out, distribution, key, step, substep: int) -> None:
    """out: (P, n, D) float32 <- the batch of sample(distribution, key, step, substep, n), on
    the GPU in one pass; key (P, 2) uint32 on the device, step an int or a (1,) uint32
    device array."""
    P, n = out.shape[0], out.shape[1]
    choice_stream = np.uint32(stream_id(Stream.DATA_CHOICE, substep))
    if isinstance(distribution, data.Circle):
        device.launch(
            "data.cu",
            "sample_circle_kernel",
            out.size,
            np.float64(distribution.radius),
            key,
            device.step_word(step),
            choice_stream,
            np.int32(P),
            np.int32(n),
            out,
        )
        return
    means, stds, cumulative = _mixture_tables_gpu(distribution, device.array_module(out))
    device.launch(
        "data.cu",
        "sample_mixture_kernel",
        out.size,
        means,
        stds,
        cumulative,
        np.int32(means.shape[0]),
        np.int32(means.shape[1]),
        key,
        device.step_word(step),
        choice_stream,
        np.uint32(stream_id(Stream.DATA_OFFSET, substep)),
        np.int32(P),
        np.int32(n),
        out,
    )
