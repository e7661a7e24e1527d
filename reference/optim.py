"""Adam over flat parameter buffers, updated in place.

Adam (Kingma and Ba 2015) in the form common frameworks use, so that the benchmark's
PyTorch baseline runs the same algorithm:

    m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
    theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

t counts updates from 1. Shapes: theta, grad, m, v all (n_params,). Contract: plain NumPy,
float64.
"""

from dataclasses import dataclass

import numpy as np

EPS = 1e-8  # added to sqrt(v_hat): the common frameworks' default


@dataclass
class AdamState:
    m: np.ndarray  # (n_params,) first-moment estimate
    v: np.ndarray  # (n_params,) second-moment estimate
    t: int = 0  # updates taken so far


def adam_init(theta: np.ndarray) -> AdamState:
    return AdamState(np.zeros_like(theta), np.zeros_like(theta))


def adam_step(
    theta: np.ndarray,
    grad: np.ndarray,
    state: AdamState,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float = EPS,
) -> None:
    state.t += 1
    state.m *= beta1
    state.m += (1.0 - beta1) * grad
    state.v *= beta2
    state.v += (1.0 - beta2) * grad * grad
    m_hat = state.m / (1.0 - beta1**state.t)
    v_hat = state.v / (1.0 - beta2**state.t)
    theta -= lr * m_hat / (np.sqrt(v_hat) + eps)
