"""Adam over the flat parameter buffers of a whole population, in place.

The update of reference/optim.py for all P GANs at once (they share lr, betas and the
step count t). On the CPU each GAN's elements come in device.SHARES parts (adam_share,
which the fused step runs too), the tasks (GAN, part) on Numba's threads; on the GPU one
kernel covers all P * n_params elements, the population being just a longer buffer.
Each element's update is computed in float64 from its float32 moments and rounded once
on store; the bias corrections 1 - beta^t are formed once per step on the host.

Shapes: theta, grad, m, v (P, n_params) float32.
"""

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from fast import device
from reference.optim import EPS


@dataclass
class AdamState:
    m: object  # (P, n_params) first-moment estimate (a NumPy or CuPy array)
    v: object  # (P, n_params) second-moment estimate
    t: int = 0  # updates taken so far


def adam_init(theta) -> AdamState:
    xp = device.array_module(theta)
    return AdamState(xp.zeros_like(theta), xp.zeros_like(theta))


@njit(inline="always", error_model="numpy")
def adam_element(theta, grad, m, v, i, lr, beta1, beta2, eps, correction1, correction2):
    """The update of element i of flat buffers, in float64, each store rounded once."""
    g = np.float64(grad[i])
    mi = beta1 * np.float64(m[i]) + (1.0 - beta1) * g
    vi = beta2 * np.float64(v[i]) + (1.0 - beta2) * g * g
    m[i], v[i] = np.float32(mi), np.float32(vi)
    step = lr * (mi / correction1) / (np.sqrt(vi / correction2) + eps)
    theta[i] = np.float32(np.float64(theta[i]) - step)


@njit(error_model="numpy")
def adam_share(theta, grad, m, v, lr, beta1, beta2, eps, correction1, correction2, part):
    """Part `part` of one GAN's update: its elements device.share(n_params, part), in
    place. theta, grad, m, v: (n_params,) float32."""
    first, stop = device.share(theta.size, part)
    # The loop runs from 0 over views of the part: a loop from `first` indexes through a
    # negative-index check that LLVM cannot drop, and ran unvectorised at half the speed.
    theta_part, grad_part, m_part, v_part = (
        theta[first:stop], grad[first:stop], m[first:stop], v[first:stop]
    )  # fmt: skip
    for i in range(theta_part.size):
        adam_element(theta_part, grad_part, m_part, v_part, i, lr, beta1, beta2, eps,
                     correction1, correction2)  # fmt: skip


@njit(inline="always", error_model="numpy")
def adam_one(theta, grad, m, v, lr, beta1, beta2, eps, correction1, correction2):
    """One GAN's update in device.SHARES parts: a parallel loop where this is inlined into
    a parallel kernel (the fused CPU step at P = 1), a plain one elsewhere."""
    for part in prange(device.SHARES):
        adam_share(theta, grad, m, v, lr, beta1, beta2, eps, correction1, correction2, part)


@njit(parallel=True, cache=True, error_model="numpy")
def _adam_step_cpu(theta, grad, m, v, lr, beta1, beta2, eps, correction1, correction2):
    """Every GAN's parts on Numba's threads, as tasks (GAN, part): adam_share's loop
    vectorises, where a parallel loop over elements would not. theta, grad, m, v:
    (P, n_params)."""
    for task in prange(theta.shape[0] * device.SHARES):
        p, part = task // device.SHARES, task % device.SHARES
        adam_share(theta[p], grad[p], m[p], v[p], lr, beta1, beta2, eps, correction1,
                   correction2, part)  # fmt: skip


def bias_corrections(beta1: float, beta2: float, t: int) -> tuple[float, float]:
    """(1 - beta1^t, 1 - beta2^t): what Adam's update t divides its moments by."""
    return 1.0 - beta1**t, 1.0 - beta2**t


def step_corrections(beta1: float, beta2: float, d_steps: int, t_D: int, t_G: int):
    """(d_steps + 1, 2) float64: the bias corrections of one GAN training step's updates,
    the d_steps discriminator updates' (D has taken t_D so far) then the generator's (t_G):
    what the fused CPU step and the CUDA graph read, as they never see an AdamState."""
    return np.array(
        [bias_corrections(beta1, beta2, t_D + s + 1) for s in range(d_steps)]
        + [bias_corrections(beta1, beta2, t_G + 1)]
    )


def adam_step(theta, grad, state: AdamState, lr, beta1, beta2, eps=EPS) -> None:
    """One Adam update of theta, state.m and state.v in place, all P GANs together."""
    state.t += 1
    correction1, correction2 = bias_corrections(beta1, beta2, state.t)
    if device.on_gpu(theta):
        _adam_step_gpu(theta, grad, state, lr, beta1, beta2, eps, correction1, correction2)
        return
    # a contiguous gradient, as the kernels make it: one compiled version, whose loop vectorises
    _adam_step_cpu(theta, np.ascontiguousarray(grad), state.m, state.v, lr, beta1, beta2, eps,
                   correction1, correction2)  # fmt: skip


# The GPU path: the kernels of fast/optim.cu, one thread per parameter of the population.


def _adam_step_gpu(theta, grad, state, lr, beta1, beta2, eps, correction1, correction2):
    import cupy

    adam_step_into_gpu(
        theta,
        cupy.ascontiguousarray(grad, dtype=np.float32),
        state.m,
        state.v,
        lr,
        beta1,
        beta2,
        eps,
        cupy.asarray([correction1, correction2], dtype=np.float64),
    )


def adam_step_into_gpu(theta, grad, m, v, lr, beta1, beta2, eps, corrections) -> None:
    """One fused Adam launch over the whole flat buffer of every GAN; theta, grad, m, v
    contiguous float32 on the device, theta, m, v updated in place; corrections: the (2,)
    float64 device array (1 - beta1^t, 1 - beta2^t), read by the kernel at run time."""
    device.launch(
        "optim.cu",
        "adam_kernel",
        theta.size,
        theta,
        grad,
        m,
        v,
        np.int64(theta.size),
        np.float64(lr),
        np.float64(beta1),
        np.float64(beta2),
        np.float64(eps),
        corrections,
    )
