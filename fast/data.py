"""Toy-distribution samples, float32, with a leading population axis.

The same streams as reference/data.py: GAN p's batch is the reference's sample(key[p], ...)
rounded to float32. The component of each sample is chosen on the float64 uniform with the
reference's inverse CDF, so it is the same component; Philox, the choice and the offset are
one pass (one Numba kernel on the CPU, fast/data.cu on the GPU).

Shapes: key (P, 2) uint32 -> samples (P, n, dim) float32.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from fast import device
from fast.philox import box_muller, stream_block, uniform_of, words_in
from reference import data
from reference.philox import Stream, SubstepRandom, stream_id

_TWO_PI = 2.0 * math.pi


@njit(error_model="numpy")
def sample_one(out, component, sampler, k0, k1, step, choice_stream, offset_stream, first_row,
               stop_row):  # fmt: skip
    """out[first_row:stop_row] <- those rows of one GAN's batch, out: (n, dim) float32;
    component: (n,) int64 scratch. A circle reads only its radius, a mixture only its tables
    (Sampler). Each row is drawn from its own stream elements, so any range of rows is drawn
    as the whole batch would be."""
    dim, K = out.shape[1], sampler.cumulative.shape[0]
    for block in range(first_row // 4, (stop_row + 3) // 4):
        w = stream_block(k0, k1, block, step, choice_stream)
        for j in range(*words_in(block, first_row, stop_row)):
            i, u = 4 * block + j, uniform_of(w[j])
            if sampler.is_circle:
                out[i, 0] = np.float32(sampler.radius * math.cos(_TWO_PI * u))
                out[i, 1] = np.float32(sampler.radius * math.sin(_TWO_PI * u))
            else:
                # searchsorted(side='right'), then min() against rounding in the last cumsum
                component[i] = min(np.searchsorted(sampler.cumulative, u, side="right"), K - 1)
    if sampler.is_circle:
        return
    first_element, stop_element = first_row * dim, stop_row * dim
    for block in range(first_element // 4, (stop_element + 3) // 4):
        w = stream_block(k0, k1, block, step, offset_stream)
        z = box_muller(w[0], w[1], w[2], w[3])
        for j in range(*words_in(block, first_element, stop_element)):
            i, d = divmod(4 * block + j, dim)
            c = component[i]
            out[i, d] = np.float32(sampler.means[c, d] + sampler.stds[c, d] * z[j])


class Sampler(NamedTuple):
    """A distribution as sample_one reads it."""

    is_circle: bool
    radius: float  # a circle's; unread for a mixture
    means: np.ndarray  # (K, dim) float64; a circle's is a one-row placeholder, never read
    stds: np.ndarray  # (K, dim) float64
    cumulative: np.ndarray  # (K,) the cumulative weights


def sampler_tables(distribution: data.Distribution) -> Sampler:
    if isinstance(distribution, data.Circle):
        placeholder = np.zeros((1, distribution.dim))
        return Sampler(True, float(distribution.radius), placeholder, placeholder, np.ones(1))
    return Sampler(
        False, 0.0, distribution.means, distribution.stds, np.cumsum(distribution.weights)
    )


@njit(parallel=True, cache=True, error_model="numpy")
def _sample_cpu(sampler, key, step, choice_stream, offset_stream, n):
    out = np.empty((key.shape[0], n, sampler.means.shape[1]), dtype=np.float32)
    for p in prange(key.shape[0]):
        component = np.empty(n, dtype=np.int64)
        sample_one(out[p], component, sampler, key[p, 0], key[p, 1], step, choice_stream,
                   offset_stream, 0, n)  # fmt: skip
    return out


def sample(distribution: data.Distribution, rng: SubstepRandom, n: int):
    """(P, n, dim) float32: GAN p's batch of the reference's sample(distribution, rng, n),
    drawn under its own key rng.key[p]."""
    if device.on_gpu(rng.key):
        return _sample_gpu(distribution, rng.key, rng.step, rng.substep, n)
    return _sample_cpu(
        sampler_tables(distribution),
        np.asarray(rng.key, np.uint32),
        rng.step,
        rng.stream(Stream.DATA_CHOICE),
        rng.stream(Stream.DATA_OFFSET),
        n,
    )


# The GPU path: the kernels of fast/data.cu, one thread per output element.


@functools.cache
def _mixture_tables_gpu(distribution: data.Mixture, cupy):
    """means, stds (K, dim) and the cumulative weights (K,), float64 on the device, uploaded
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
    """out: (P, n, dim) float32 <- the batch of sample(distribution, SubstepRandom(key, step,
    substep), n), on the GPU in one pass; key (P, 2) uint32 on the device, step an int or a
    (1,) uint32 device array."""
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
