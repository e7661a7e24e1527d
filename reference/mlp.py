"""Multi-layer perceptrons over one flat parameter buffer, with hand-written backprop.

A network with layer sizes (n0, n1, ..., nL) computes

    h0 = x,   a_l = h_{l-1} @ W_l + b_l,   h_l = act(a_l) for l < L,   y = a_L (linear output)

All parameters live in one flat float64 buffer `theta`, laid out W1, b1, W2, b2, ... with
each W_l stored row-major as (n_{l-1}, n_l). `layer_views` gives named views into it. The
fast path uses the same layout, with a leading population axis.

Shapes: x (B, n0), y (B, nL), theta (n_params,). Contract: plain NumPy, float64.
"""

from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "tanh")  # a hidden layer's, by name (MLPSpec.activation)
# Each one's code, its index in ACTIVATIONS, and LINEAR for the output layer: what the fast
# path's kernels take (fast/mlp.py; Numba compares against them as constants).
RELU, LEAKY_RELU, TANH = range(len(ACTIVATIONS))
LINEAR = -1
LEAKY_RELU_SLOPE = 0.2


@dataclass(frozen=True)
class MLPSpec:
    """Layer sizes and the hidden activation; the output layer is always linear."""

    sizes: tuple[int, ...]
    activation: str

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"sizes must hold at least two positive widths, got {self.sizes}")

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def offsets(self) -> list[tuple[int, int, int]]:
        """Per layer l = 1..L: (start of W_l, start of b_l, end of b_l) in theta."""
        result, start = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            result.append((start, start + n_in * n_out, start + n_in * n_out + n_out))
            start += n_in * n_out + n_out
        return result

    @property
    def n_params(self) -> int:
        return self.offsets()[-1][2]


def layer_views(spec: MLPSpec, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(W_l: (n_{l-1}, n_l), b_l: (n_l,)) for each layer] as views into theta (writable
    where theta is), so that gradients and updates of the views land in the flat buffer."""
    return [
        (
            theta[w_start:b_start].reshape(n_in, n_out),
            theta[b_start:b_end],
        )
        for (w_start, b_start, b_end), n_in, n_out in zip(
            spec.offsets(), spec.sizes[:-1], spec.sizes[1:], strict=True
        )
    ]


def named_parameters(spec: MLPSpec, theta: np.ndarray, prefix: str = "", suffix: str = "") -> dict:
    """{'W1': ..., 'b1': ..., 'W2': ...} views of theta; prefix and suffix make names such
    as 'dW1_D', the gradient of the discriminator's first weight matrix."""
    named = {}
    for layer, (weight, bias) in enumerate(layer_views(spec, theta), start=1):
        named[f"{prefix}W{layer}{suffix}"] = weight
        named[f"{prefix}b{layer}{suffix}"] = bias
    return named


def init_params(spec: MLPSpec, rng: np.random.Generator) -> np.ndarray:
    """theta: (n_params,) with W_l, b_l ~ U(-1/sqrt(n_{l-1}), 1/sqrt(n_{l-1})), the default
    of common frameworks, so the benchmark's PyTorch network can start from the same point."""
    theta = np.empty(spec.n_params)
    for weight, bias in layer_views(spec, theta):
        bound = 1.0 / np.sqrt(weight.shape[0])
        weight[...] = rng.uniform(-bound, bound, size=weight.shape)
        bias[...] = rng.uniform(-bound, bound, size=bias.shape)
    return theta


def activation_forward(name: str, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "leaky_relu":
        return np.where(a > 0.0, a, LEAKY_RELU_SLOPE * a)
    return np.tanh(a)


def activation_backward(name: str, a: np.ndarray, h: np.ndarray, dh: np.ndarray) -> np.ndarray:
    """dL/da from dL/dh, given the pre-activation a and the output h = act(a)."""
    if name == "relu":
        return np.where(a > 0.0, dh, 0.0)
    if name == "leaky_relu":
        return np.where(a > 0.0, dh, LEAKY_RELU_SLOPE * dh)
    return dh * (1.0 - h * h)


def forward(spec: MLPSpec, theta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, dict]:
    """x: (B, n0) -> y: (B, nL), and the cache backward needs: the input of every layer
    ('h0', 'h1', ...) and every hidden pre-activation ('a1', 'a2', ...)."""
    views = layer_views(spec, theta)
    cache = {"h0": x}
    h = x
    for layer, (weight, bias) in enumerate(views[:-1], start=1):
        a = h @ weight + bias
        h = activation_forward(spec.activation, a)
        cache[f"a{layer}"], cache[f"h{layer}"] = a, h
    weight, bias = views[-1]
    return h @ weight + bias, cache


def backward(
    spec: MLPSpec, theta: np.ndarray, cache: dict, dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """dy: (B, nL) = dL/dy -> (dtheta: (n_params,), dx: (B, n0))."""
    dtheta = np.zeros_like(theta)
    views, dviews = layer_views(spec, theta), layer_views(spec, dtheta)
    da = dy  # dL/da of the layer being visited; the output layer is linear, so a_L = y
    for layer in range(spec.n_layers, 0, -1):
        (weight, _), (dweight, dbias) = views[layer - 1], dviews[layer - 1]
        h_in = cache[f"h{layer - 1}"]
        dweight[...] = h_in.T @ da
        dbias[...] = da.sum(axis=0)
        dh_in = da @ weight.T
        if layer > 1:
            da = activation_backward(spec.activation, cache[f"a{layer - 1}"], h_in, dh_in)
    return dtheta, dh_in
