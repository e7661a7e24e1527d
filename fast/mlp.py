"""Multi-layer perceptrons over a population of flat parameter buffers, float32.

The same networks and the same flat layout as reference/mlp.py (W1, b1, W2, b2, ... with
W_l row-major (n_{l-1}, n_l)), one row of theta per GAN: theta (P, n_params). The
matrix products are BLAS GEMMs (np.dot inside Numba on the CPU, batched cupy.matmul on the
GPU); everything else is fused around them:

    forward:  a = h @ W (GEMM), then one pass h = act(a + b) in place
    backward: dW = h_in^T @ da, dh = da @ W^T (GEMMs), then one pass that forms
              da_in = act'(h_in) * dh in place and sums it over the batch into db_in

The activation derivative is read from the layer's output h alone (relu and leaky relu
have a > 0 exactly where h > 0; tanh' = 1 - h^2), so the forward pass stores no
pre-activations: the cache holds each layer's input h0, h1, ..., h_{L-1}.

On the CPU one Numba kernel runs the whole stack for every GAN, parallel over the
population; with P = 1 BLAS gets the cores instead (fast.device.cpu_blas_threads).

Shapes: x (P, B, n0), y (P, B, nL), theta and dtheta (P, n_params).
"""

import numpy as np
from numba import njit, prange

from fast import device
from reference.mlp import ACTIVATIONS, LEAKY_RELU_SLOPE, MLPSpec


def layer_views(spec: MLPSpec, theta) -> list:
    """[(W_l: (P, n_{l-1}, n_l), b_l: (P, n_l)) per layer], views into theta: (P, n_params)."""
    P = theta.shape[0]
    return [
        (theta[:, w_start:b_start].reshape(P, n_in, n_out), theta[:, b_start:b_end])
        for (w_start, b_start, b_end), n_in, n_out in zip(
            spec.offsets(), spec.sizes[:-1], spec.sizes[1:], strict=True
        )
    ]


def _layout(spec: MLPSpec, batch: int):
    """The integer tables the kernels read: sizes (L+1,), weight and bias offsets in theta
    (L,), and the offset of each hidden output in the flat activation buffer (L,), whose
    last entry is its total length."""
    offsets = np.array(spec.offsets(), dtype=np.int64).reshape(-1, 3)
    hidden = np.cumsum([0, *[batch * n for n in spec.sizes[1:-1]]]).astype(np.int64)
    return (np.array(spec.sizes, dtype=np.int64), offsets[:, 0], offsets[:, 1], hidden)


@njit
def _weight(theta, sizes, w_off, layer):
    n_in, n_out = sizes[layer], sizes[layer + 1]
    return theta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)


@njit
def _hidden(acts, sizes, h_off, layer, batch):
    """The output of hidden layer `layer` (0-based) as a (B, n) view of the flat buffer."""
    n = sizes[layer + 1]
    return acts[h_off[layer] : h_off[layer] + batch * n].reshape(batch, n)


@njit
def bias_activation(a, b, act):
    """a <- act(a + b) in place, a: (B, n); act 0 relu, 1 leaky relu, 2 tanh, -1 linear."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = a[i, j] + b[j]
            if act == 0:
                v = max(v, np.float32(0.0))
            elif act == 1:
                v = v if v > 0 else np.float32(LEAKY_RELU_SLOPE) * v
            elif act == 2:
                v = np.tanh(v)
            a[i, j] = v


@njit
def activation_backward_sum(dh, h, db, act):
    """dh <- act'(h) * dh in place (the activation read from its output h), and
    db = the batch sum of the result. dh, h: (B, n), db: (n,)."""
    db[:] = 0
    for i in range(dh.shape[0]):
        for j in range(dh.shape[1]):
            g = dh[i, j]
            if act == 0:
                g = g if h[i, j] > 0 else np.float32(0.0)
            elif act == 1:
                g = g if h[i, j] > 0 else np.float32(LEAKY_RELU_SLOPE) * g
            else:
                g = g * (np.float32(1.0) - h[i, j] * h[i, j])
            dh[i, j] = g
            db[j] += g


@njit
def forward_one(theta, x, acts, y, sizes, w_off, b_off, h_off, act):
    """One GAN: x (B, n0) -> y (B, nL), hidden outputs into acts (flat)."""
    batch, n_layers = x.shape[0], sizes.shape[0] - 1
    h = x
    for layer in range(n_layers):
        out = y if layer == n_layers - 1 else _hidden(acts, sizes, h_off, layer, batch)
        np.dot(h, _weight(theta, sizes, w_off, layer), out)
        bias = theta[b_off[layer] : b_off[layer] + sizes[layer + 1]]
        bias_activation(out, bias, act if layer < n_layers - 1 else -1)
        h = out


@njit
def backward_one(theta, x, acts, dy, dtheta, dx, sizes, w_off, b_off, h_off, act, param_grad):
    """One GAN: dy (B, nL) -> dtheta (only when param_grad) and dx (B, n0)."""
    batch, n_layers = x.shape[0], sizes.shape[0] - 1
    widest = sizes.max()
    ping = np.empty(batch * widest, dtype=np.float32)
    pong = np.empty(batch * widest, dtype=np.float32)
    da = dy
    last_db = dtheta[b_off[n_layers - 1] : b_off[n_layers - 1] + sizes[n_layers]]
    if param_grad:
        last_db[:] = 0
        for i in range(batch):
            for j in range(sizes[n_layers]):
                last_db[j] += dy[i, j]
    for layer in range(n_layers - 1, -1, -1):
        n_in = sizes[layer]
        h_in = x if layer == 0 else _hidden(acts, sizes, h_off, layer - 1, batch)
        if param_grad:
            np.dot(h_in.T, da, _weight(dtheta, sizes, w_off, layer))
        W = _weight(theta, sizes, w_off, layer)
        if layer == 0:
            np.dot(da, W.T, dx)
        else:
            dh = (ping if layer % 2 == 0 else pong)[: batch * n_in].reshape(batch, n_in)
            np.dot(da, W.T, dh)
            db = dtheta[b_off[layer - 1] : b_off[layer - 1] + n_in]
            activation_backward_sum(dh, h_in, db, act)
            da = dh


@njit(parallel=True, cache=True)
def _forward_cpu(theta, x, sizes, w_off, b_off, h_off, act):
    P, batch = x.shape[0], x.shape[1]
    acts = np.empty((P, h_off[-1]), dtype=np.float32)
    y = np.empty((P, batch, sizes[-1]), dtype=np.float32)
    for p in prange(P):
        forward_one(theta[p], x[p], acts[p], y[p], sizes, w_off, b_off, h_off, act)
    return y, acts


@njit(parallel=True, cache=True)
def _backward_cpu(theta, x, acts, dy, sizes, w_off, b_off, h_off, act, param_grad):
    P, batch = x.shape[0], x.shape[1]
    dtheta = np.zeros_like(theta)
    dx = np.empty((P, batch, sizes[0]), dtype=np.float32)
    for p in prange(P):
        backward_one(
            theta[p],
            x[p],
            acts[p],
            dy[p],
            dtheta[p],
            dx[p],
            sizes,
            w_off,
            b_off,
            h_off,
            act,
            param_grad,
        )
    return dtheta, dx


def activation_code(spec: MLPSpec) -> int:
    return ACTIVATIONS.index(spec.activation)


def forward(spec: MLPSpec, theta, x):
    """x: (P, B, n0) -> (y: (P, B, nL), cache). The cache holds 'h0' (= x) and the hidden
    outputs 'h1', ... as (P, B, n_l) views of one flat buffer, which it also holds as
    'acts' (P, n_hidden_total)."""
    if device.on_gpu(x):
        return _forward_gpu(spec, theta, x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    P, batch = x.shape[:2]
    sizes, w_off, b_off, h_off = _layout(spec, batch)
    device.cpu_blas_threads(P > 1)
    y, acts = _forward_cpu(theta, x, sizes, w_off, b_off, h_off, activation_code(spec))
    cache = {"h0": x, "acts": acts}
    for layer, n in enumerate(spec.sizes[1:-1], start=1):
        cache[f"h{layer}"] = acts[:, h_off[layer - 1] : h_off[layer]].reshape(P, batch, n)
    return y, cache


def backward(spec: MLPSpec, theta, cache: dict, dy, param_grad: bool = True):
    """dy: (P, B, nL) -> (dtheta: (P, n_params), dx: (P, B, n0)). param_grad=False skips
    the weight gradients (dtheta is then zeros): the generator's step needs only D's input
    gradient."""
    if device.on_gpu(dy):
        return _backward_gpu(spec, theta, cache, dy, param_grad)
    dy = np.ascontiguousarray(dy, dtype=np.float32)
    x = cache["h0"]
    sizes, w_off, b_off, h_off = _layout(spec, x.shape[1])
    device.cpu_blas_threads(x.shape[0] > 1)
    return _backward_cpu(
        theta, x, cache["acts"], dy, sizes, w_off, b_off, h_off, activation_code(spec), param_grad
    )


def named_parameters(spec: MLPSpec, theta, prefix: str = "", suffix: str = "") -> dict:
    """{'W1': (P, n0, n1), 'b1': (P, n1), ...} views of theta, named as the reference's."""
    named = {}
    for layer, (weight, bias) in enumerate(layer_views(spec, theta), start=1):
        named[f"{prefix}W{layer}{suffix}"] = weight
        named[f"{prefix}b{layer}{suffix}"] = bias
    return named
