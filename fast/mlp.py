"""Multi-layer perceptrons over a population of flat parameter buffers, float32.

The same networks and the same flat layout as reference/mlp.py (W1, b1, W2, b2, ... with
W_l row-major (n_{l-1}, n_l)), one row of theta per GAN: theta (P, n_params). The
matrix products are BLAS GEMMs (np.dot inside Numba on the CPU; on the GPU one cuBLAS
strided-batched sgemm per layer for all P GANs, called through ctypes so that a CUDA graph
can capture it: fast/device.py says why); everything else is fused around them:

    forward:  a = h @ W (GEMM), then one pass h = act(a + b) in place
    backward: dW = h_in^T @ da, dh = da @ W^T (GEMMs), then one pass that forms
              da_in = act'(h_in) * dh in place and sums it over the batch into db_in

The activation derivative is read from the layer's output h alone (relu and leaky relu
have a > 0 exactly where h > 0; tanh' = 1 - h^2), so the forward pass stores no
pre-activations: the cache holds each layer's input h0, h1, ..., h_{L-1}.

On the CPU one Numba kernel runs the whole stack for every GAN, parallel over the
population, each GAN's GEMMs on one BLAS thread (fast.device.single_threaded_blas). A GAN's
passes come in device.SHARES parts (forward_rows, backward_layer), looped over inside a
population's kernels and run on their own threads by the fused step at P = 1: the same
GEMMs either way, so the same bits.

Shapes: x (P, B, n0), y (P, B, nL), theta and dtheta (P, n_params).
"""

import functools
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from fast import device
from reference.mlp import ACTIVATIONS, LEAKY_RELU, LEAKY_RELU_SLOPE, LINEAR, RELU, TANH, MLPSpec


@functools.cache
def _offsets(spec: MLPSpec) -> tuple:
    """((w_start, b_start, b_end, n_in, n_out) per layer): spec.offsets() with the widths,
    computed once per spec (the fused step names its gradients' views every step)."""
    return tuple(
        (*offsets, n_in, n_out)
        for offsets, n_in, n_out in zip(
            spec.offsets(), spec.sizes[:-1], spec.sizes[1:], strict=True
        )
    )


def layer_views(spec: MLPSpec, theta) -> list:
    """[(W_l: (P, n_{l-1}, n_l), b_l: (P, n_l)) per layer], views into theta: (P, n_params)."""
    P = theta.shape[0]
    return [
        (theta[:, w_start:b_start].reshape(P, n_in, n_out), theta[:, b_start:b_end])
        for w_start, b_start, b_end, n_in, n_out in _offsets(spec)
    ]


class Layout(NamedTuple):
    """The integer tables the kernels read, for a network and a batch size."""

    sizes: np.ndarray  # (L + 1,) the layer widths n0 .. nL
    w_off: np.ndarray  # (L,) where each W_l starts in theta
    b_off: np.ndarray  # (L,) where each b_l starts in theta
    h_off: np.ndarray  # (L,) where each hidden output starts in the flat activation buffer;
    # the last entry is the buffer's total length


def layout(spec: MLPSpec, batch: int) -> Layout:
    offsets = np.array(spec.offsets(), dtype=np.int64).reshape(-1, 3)
    hidden = np.cumsum([0, *[batch * n for n in spec.sizes[1:-1]]]).astype(np.int64)
    return Layout(np.array(spec.sizes, dtype=np.int64), offsets[:, 0], offsets[:, 1], hidden)


@njit(error_model="numpy")
def weight_of(theta, layout, layer):
    """W of layer `layer` (0-based) as an (n_in, n_out) view of one GAN's flat theta."""
    n_in, n_out = layout.sizes[layer], layout.sizes[layer + 1]
    start = layout.w_off[layer]
    return theta[start : start + n_in * n_out].reshape(n_in, n_out)


@njit(error_model="numpy")
def bias_of(theta, layout, layer):
    """b of layer `layer` (0-based) as an (n_out,) view of one GAN's flat theta."""
    start = layout.b_off[layer]
    return theta[start : start + layout.sizes[layer + 1]]


@njit(error_model="numpy")
def hidden_of(acts, layout, layer, batch):
    """The output of hidden layer `layer` (0-based) as a (B, n) view of the flat buffer."""
    n, start = layout.sizes[layer + 1], layout.h_off[layer]
    return acts[start : start + batch * n].reshape(batch, n)


@njit(error_model="numpy")
def bias_activation(a, b, act):
    """a <- act(a + b) in place, a: (B, n); act a code of reference/mlp.py (RELU,
    LEAKY_RELU, TANH, or LINEAR: the bias alone)."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            v = a[i, j] + b[j]
            if act == RELU:
                v = max(v, np.float32(0.0))
            elif act == LEAKY_RELU:
                v = v if v > 0 else np.float32(LEAKY_RELU_SLOPE) * v
            elif act == TANH:
                v = np.tanh(v)
            a[i, j] = v


@njit(error_model="numpy")
def activation_backward_sum(dh, h, db, act, sums):
    """dh <- act'(h) * dh in place (the activation read from its output h), and, when
    sums, db += the batch sum of the result. dh, h: (B, n), db: (n,)."""
    for i in range(dh.shape[0]):
        for j in range(dh.shape[1]):
            g = dh[i, j]
            if act == RELU:
                g = g if h[i, j] > 0 else np.float32(0.0)
            elif act == LEAKY_RELU:
                g = g if h[i, j] > 0 else np.float32(LEAKY_RELU_SLOPE) * g
            else:
                g = g * (np.float32(1.0) - h[i, j] * h[i, j])
            dh[i, j] = g
            if sums:
                db[j] += g


@njit(error_model="numpy")
def forward_rows(theta, x, acts, y, layout, act, part):
    """Part `part` of x's rows (device.share) through every layer."""
    batch, n_layers = x.shape[0], layout.sizes.shape[0] - 1
    first, stop = device.share(batch, part)
    h = x[first:stop]
    for layer in range(n_layers):
        out = y if layer == n_layers - 1 else hidden_of(acts, layout, layer, batch)
        out = out[first:stop]
        np.dot(h, weight_of(theta, layout, layer), out)
        bias_activation(out, bias_of(theta, layout, layer), act if layer < n_layers - 1 else LINEAR)
        h = out


@njit(inline="always", error_model="numpy")
def forward_one(theta, x, acts, y, layout, act):
    """One GAN: x (B, n0) -> y (B, nL), hidden outputs into acts (flat), its rows in
    device.SHARES parts: a parallel loop where this is inlined into a parallel kernel (the
    fused CPU step at P = 1), a plain one elsewhere."""
    for part in prange(device.SHARES):
        forward_rows(theta, x, acts, y, layout, act, part)


@njit(error_model="numpy")
def _gradient_at(work, layer, batch, widest, n):
    """The gradient at hidden layer `layer`'s input (layer >= 1), (B, n): the two halves of
    work alternate, so a layer reads its output's gradient from one and writes its
    input's into the other."""
    half = work[(layer % 2) * batch * widest :]
    return half[: batch * n].reshape(batch, n)


@njit(error_model="numpy")
def backward_layer(theta, x, acts, dy, dtheta, dx, layout, act, param_grad, work, layer,
                   part):  # fmt: skip
    """Part `part` of layer `layer`'s backward step, given the gradient at its output (dy
    for the last layer, else where the layer above left it in work). With param_grad the
    step is two products of equal cost: part 0 forms dW (and the last layer's bias
    gradient), part 1 the gradient at the input, act' applied and the lower layer's bias
    gradient summed. Without, part k forms the input gradient's rows device.share(B, k).
    Either way that gradient is formed one row share at a time, the same GEMMs."""
    sizes = layout.sizes
    batch, n_layers, widest = x.shape[0], sizes.shape[0] - 1, sizes.max()
    n_in, n_out = sizes[layer], sizes[layer + 1]
    da = dy if layer == n_layers - 1 else _gradient_at(work, layer + 1, batch, widest, n_out)
    h_in = x if layer == 0 else hidden_of(acts, layout, layer - 1, batch)
    if param_grad and part == 0:
        if layer == n_layers - 1:
            last_db = bias_of(dtheta, layout, layer)
            last_db[:] = 0
            for i in range(batch):
                for j in range(n_out):
                    last_db[j] += dy[i, j]
        np.dot(h_in.T, da, weight_of(dtheta, layout, layer))
        return
    W = weight_of(theta, layout, layer)
    first_part, stop_part = (0, device.SHARES) if param_grad else (part, part + 1)
    if layer == 0:
        for rows_part in range(first_part, stop_part):
            first, stop = device.share(batch, rows_part)
            np.dot(da[first:stop], W.T, dx[first:stop])
        return
    dh = _gradient_at(work, layer, batch, widest, n_in)
    db = bias_of(dtheta, layout, layer - 1)  # the lower layer's, summed only with param_grad
    if param_grad:
        db[:] = 0
    for rows_part in range(first_part, stop_part):
        first, stop = device.share(batch, rows_part)
        np.dot(da[first:stop], W.T, dh[first:stop])
        activation_backward_sum(dh[first:stop], h_in[first:stop], db, act, param_grad)


@njit(inline="always", error_model="numpy")
def backward_one(theta, x, acts, dy, dtheta, dx, layout, act, param_grad, work):
    """One GAN: dy (B, nL) -> dtheta (only when param_grad) and dx (B, n0), each layer in
    device.SHARES parts (backward_layer) run as forward_one runs its rows. work: float32
    scratch of at least backward_work(sizes, B) elements (callers keep it across calls: a
    fresh allocation of this size costs page faults every step)."""
    for layer in range(layout.sizes.shape[0] - 2, -1, -1):
        for part in prange(device.SHARES):
            backward_layer(theta, x, acts, dy, dtheta, dx, layout, act, param_grad, work,
                           layer, part)  # fmt: skip


@njit(parallel=True, cache=True, error_model="numpy")
def _forward_cpu(theta, x, layout, act):
    P, batch = x.shape[0], x.shape[1]
    acts = np.empty((P, layout.h_off[-1]), dtype=np.float32)
    y = np.empty((P, batch, layout.sizes[-1]), dtype=np.float32)
    for p in prange(P):
        forward_one(theta[p], x[p], acts[p], y[p], layout, act)
    return y, acts


def backward_work(sizes, batch: int) -> int:
    """The scratch backward_one needs: two (B, widest) buffers."""
    return 2 * batch * max(sizes)


@njit(parallel=True, cache=True, error_model="numpy")
def _backward_cpu(theta, x, acts, dy, layout, act, param_grad, work):
    P, batch = x.shape[0], x.shape[1]
    dtheta = np.zeros_like(theta)
    dx = np.empty((P, batch, layout.sizes[0]), dtype=np.float32)
    for p in prange(P):
        backward_one(
            theta[p], x[p], acts[p], dy[p], dtheta[p], dx[p], layout, act, param_grad, work[p]
        )
    return dtheta, dx


def activation_code(spec: MLPSpec) -> int:
    """The hidden layers' activation as the kernels take it: reference/mlp.py's code."""
    return ACTIVATIONS.index(spec.activation)


def forward(spec: MLPSpec, theta, x):
    """x: (P, B, n0) -> (y: (P, B, nL), cache). The cache holds 'h0' (= x) and the hidden
    outputs 'h1', ... as (P, B, n_l) views of one flat buffer, which it also holds as
    'acts' (P, n_hidden_total)."""
    if device.on_gpu(x):
        return _forward_gpu(spec, theta, x)
    x = np.ascontiguousarray(x, dtype=np.float32)
    P, batch = x.shape[:2]
    network = layout(spec, batch)
    device.single_threaded_blas()
    y, acts = _forward_cpu(theta, x, network, activation_code(spec))
    cache = {"h0": x, "acts": acts}
    h_off = network.h_off
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
    network = layout(spec, x.shape[1])
    work = np.empty((x.shape[0], backward_work(spec.sizes, x.shape[1])), dtype=np.float32)
    device.single_threaded_blas()
    return _backward_cpu(
        theta, x, cache["acts"], dy, network, activation_code(spec), param_grad, work
    )


def named_parameters(spec: MLPSpec, theta, prefix: str = "", suffix: str = "") -> dict:
    """{'W1': (P, n0, n1), 'b1': (P, n1), ...} views of theta, named as the reference's."""
    named = {}
    for layer, (weight, bias) in enumerate(layer_views(spec, theta), start=1):
        named[f"{prefix}W{layer}{suffix}"] = weight
        named[f"{prefix}b{layer}{suffix}"] = bias
    return named


_COLUMNS, _ROWS = 32, 8  # activation_backward_kernel's block, as in fast/mlp.cu
_FLOAT32_BYTES = 4


def _gemm_gpu(trans_a, trans_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, P):
    """C_p = op(A_p) @ op(B_p) for p < P, column-major, on raw device pointers, on the
    current stream: one cuBLAS strided-batched sgemm (plain FP32; TF32 would change the
    results), capturable into a CUDA graph (see fast.device.cublas). A row-major (r, c)
    matrix is read here as its column-major transpose."""
    device.cublas().sgemm_strided_batched(
        trans_a, trans_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c, P
    )


def _param_ptr(theta, offset: int) -> int:
    return theta.data.ptr + _FLOAT32_BYTES * offset


def forward_into_gpu(spec: MLPSpec, theta, x, hidden: list, y) -> None:
    """y = the network of every GAN on x, on the GPU: per layer one batched GEMM, then
    bias + activation fused in place. x: (P, B, n0), hidden: [(P, B, n_l) for each hidden
    layer] (written: the cache), y: (P, B, nL); all contiguous float32 device arrays."""
    P, batch = x.shape[:2]
    n_params, code = spec.n_params, activation_code(spec)
    outputs = [*hidden, y]
    h = x
    for layer, (w_start, b_start, _) in enumerate(spec.offsets()):
        n_in, n_out, out = spec.sizes[layer], spec.sizes[layer + 1], outputs[layer]
        # out (B, n_out) = h (B, n_in) @ W (n_in, n_out), i.e. out^T = W^T h^T column-major
        _gemm_gpu(
            False, False, n_out, batch, n_in,
            _param_ptr(theta, w_start), n_out, n_params,
            h.data.ptr, n_in, batch * n_in,
            out.data.ptr, n_out, batch * n_out, P,
        )  # fmt: skip
        last = layer == spec.n_layers - 1
        device.launch(
            "mlp.cu",
            "bias_activation_kernel",
            out.size,
            out,
            theta,
            np.int64(n_params),
            np.int64(b_start),
            np.int32(P),
            np.int32(batch),
            np.int32(n_out),
            np.int32(LINEAR if last else code),
        )
        h = out


def _activation_backward_gpu(dh, h, act: int, dtheta, n_params: int, b_start: int) -> None:
    """dh <- act'(h) * dh in place (dh is left as is for act = LINEAR) and, unless
    dtheta is None, the batch sum of the result into theta's bias slot b_start."""
    P, batch, n = dh.shape
    grid = (-(-n // _COLUMNS), P)
    device.cuda_kernel("mlp.cu", "activation_backward_kernel")(
        grid,
        (_COLUMNS, _ROWS),
        (
            dh,
            h,
            np.int32(batch),
            np.int32(n),
            np.int32(act),
            np.uint64(0) if dtheta is None else dtheta,  # a null pointer
            np.int64(n_params),
            np.int64(b_start),
        ),
    )


def backward_into_gpu(spec: MLPSpec, theta, inputs: list, dy, dtheta, dx, scratch: list) -> None:
    """The backward pass on the GPU. inputs: [x, h1, ...] (each layer's input, the forward
    cache), dy: (P, B, nL) (not modified), dtheta: (P, n_params) written, or None to skip
    the weight gradients, dx: (P, B, n0) written, scratch: two flat (P * B * widest hidden,)
    float32 buffers for the hidden layers' gradients. All contiguous device arrays."""
    P, batch = dy.shape[:2]
    n_params, code, offsets = spec.n_params, activation_code(spec), spec.offsets()
    if dtheta is not None:
        _activation_backward_gpu(dy, dy, LINEAR, dtheta, n_params, offsets[-1][1])
    da = dy
    for layer in range(spec.n_layers - 1, -1, -1):
        n_in, n_out = spec.sizes[layer], spec.sizes[layer + 1]
        w_start, h_in = offsets[layer][0], inputs[layer]
        if dtheta is not None:
            # dW (n_in, n_out) = h_in^T da, i.e. dW^T = da^T h_in column-major
            _gemm_gpu(
                False, True, n_out, n_in, batch,
                da.data.ptr, n_out, batch * n_out,
                h_in.data.ptr, n_in, batch * n_in,
                _param_ptr(dtheta, w_start), n_out, n_params, P,
            )  # fmt: skip
        dh = dx if layer == 0 else scratch[layer % 2][: P * batch * n_in].reshape(P, batch, n_in)
        # dh (B, n_in) = da W^T, i.e. dh^T = W da^T column-major
        _gemm_gpu(
            True, False, n_in, batch, n_out,
            _param_ptr(theta, w_start), n_out, n_params,
            da.data.ptr, n_out, batch * n_out,
            dh.data.ptr, n_in, batch * n_in, P,
        )  # fmt: skip
        if layer > 0:
            _activation_backward_gpu(dh, h_in, code, dtheta, n_params, offsets[layer - 1][1])
        da = dh


def _forward_gpu(spec: MLPSpec, theta, x):
    import cupy

    P, batch = x.shape[:2]
    x = cupy.ascontiguousarray(x, dtype=np.float32)
    hidden = [cupy.empty((P, batch, n), dtype=np.float32) for n in spec.sizes[1:-1]]
    y = cupy.empty((P, batch, spec.sizes[-1]), dtype=np.float32)
    forward_into_gpu(spec, cupy.ascontiguousarray(theta), x, hidden, y)
    return y, {"h0": x, **{f"h{layer}": h for layer, h in enumerate(hidden, start=1)}}


def _backward_gpu(spec: MLPSpec, theta, cache: dict, dy, param_grad: bool):
    import cupy

    P, batch = dy.shape[:2]
    theta = cupy.ascontiguousarray(theta)
    dtheta = cupy.zeros_like(theta)
    dx = cupy.empty((P, batch, spec.sizes[0]), dtype=np.float32)
    width = max(spec.sizes[1:-1], default=1)
    scratch = [cupy.empty(P * batch * width, dtype=np.float32) for _ in range(2)]
    inputs = [cache[f"h{layer}"] for layer in range(spec.n_layers)]
    backward_into_gpu(
        spec,
        theta,
        inputs,
        cupy.ascontiguousarray(dy, dtype=np.float32),
        dtheta if param_grad else None,
        dx,
        scratch,
    )
    return dtheta, dx
