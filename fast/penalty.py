"""Gradient penalties on the discriminator for a population, float32, on the CPU:
reference/penalty.py's R1, R2 and Roth's regulariser, their value and exact parameter
gradient (the tangent pass and its adjoint, derived there), GAN by GAN.

GAN p has its own penalty (a code, reference/penalty.py's NONE, R1, R2 or ROTH) and weight
gamma[p]. Only the rows a penalty weights are visited: r1 the B real rows, r2 the B fake
ones, roth all 2B, so R1 and R2 cost half of Roth. The per-GAN work comes in two halves,
run around D's ordinary backward as reference/penalty.py's penalised_backward runs them:

    penalty_forward_one    the tangent pass over the weighted rows, the value, and Roth's
                           term d penalty / d phi added into D's dlogits
    (D's backward: dtheta_D from the dlogits)
    penalty_backward_one   the adjoint of the tangent pass, added into dtheta_D

`penalty` runs both for a population (the reference's `penalty`), and `penalised_backward`
D's whole backward for loss + penalty around it, as the reference's does.

Sums of squares and the value accumulate in float64; the passes are float32 GEMMs, as in
fast/mlp.py. The GPU has no penalty kernels: fast.gan.resolve_device refuses a penalty
there rather than run code that no GPU has tested.

Shapes: N = 2B rows, the real ones first; theta (P, n_params); logit (P, N).
Scratch per GAN: tangent (as D's hidden activations), gbar (N * dim), dweight (the largest
W_l), and backward_one's work.
"""

import numpy as np
from numba import njit, prange

from fast import mlp
from reference.mlp import LEAKY_RELU, LEAKY_RELU_SLOPE
from reference.penalty import NONE, PENALTIES, R1, R2, ROTH, check_activation


def codes(members) -> np.ndarray:
    """(P,) int64: each GAN's penalty as its code (its index in PENALTIES)."""
    return np.array([PENALTIES.index(member.penalty) for member in members], dtype=np.int64)


def scratch_sizes(spec, batch: int) -> tuple[int, int, int]:
    """The per-GAN scratch the two halves need on D's 2B rows: tangent, gbar, dweight."""
    largest_W = max(
        n_in * n_out for n_in, n_out in zip(spec.sizes[:-1], spec.sizes[1:], strict=True)
    )
    return mlp.layout(spec, 2 * batch).h_off[-1], 2 * batch * spec.sizes[0], largest_W


@njit(error_model="numpy")
def _rows(kind, n_rows):
    """[first, last): the rows a penalty weights."""
    if kind == R1:
        return 0, n_rows // 2
    if kind == R2:
        return n_rows // 2, n_rows
    return 0, n_rows


@njit(error_model="numpy")
def _times_slope(out, h, act):
    """out <- act'(a) * out in place, act' read from the layer's output h (relu or leaky
    relu: a > 0 exactly where h > 0)."""
    low = np.float32(LEAKY_RELU_SLOPE) if act == LEAKY_RELU else np.float32(0.0)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if h[i, j] <= 0:
                out[i, j] *= low


@njit(error_model="numpy")
def penalty_forward_one(theta, acts, logit, dlogit, kind, gamma, layout, act, tangent, gbar):
    """One GAN: the penalty's value (float64), with Roth's term added into dlogit (N,).
    acts: D's hidden outputs on the N rows; leaves u_l of the weighted rows in tangent
    (D's activation layout) and d penalty / d g in gbar, for penalty_backward_one."""
    n_rows, n_layers = logit.shape[0], layout.sizes.shape[0] - 1
    first, last = _rows(kind, n_rows)
    rows, dim = last - first, layout.sizes[0]
    g = gbar[: rows * dim].reshape(rows, dim)
    u = g  # u_{l+1}, from the layer above (typed here; the top layer reads none: u_L = 1)
    for layer in range(n_layers - 1, -1, -1):  # v_{l-1} = u_l W_l^T, u_{l-1} = s * v_{l-1}
        W = mlp.weight_of(theta, layout, layer)
        out = g if layer == 0 else mlp.hidden_of(tangent, layout, layer - 1, rows)
        if layer == n_layers - 1:
            for i in range(rows):
                out[i, :] = W[:, 0]
        else:
            np.dot(u, W.T, out)
        if layer > 0:
            _times_slope(out, mlp.hidden_of(acts, layout, layer - 1, n_rows)[first:last], act)
        u = out
    total = 0.0
    for i in range(rows):
        row = first + i
        g_squared = 0.0
        for j in range(dim):
            g_squared += np.float64(g[i, j]) ** 2
        w = 1.0
        if kind == ROTH:  # (1 - D)^2 on real rows, D^2 on fake ones, and their slopes
            # D and 1 - D from one exp of a non-positive number: both exact, neither overflows
            x = np.float64(logit[row])
            e = np.exp(-abs(x))
            big, small = 1.0 / (1.0 + e), e / (1.0 + e)
            d, one_minus_d = (big, small) if x >= 0 else (small, big)
            if row < n_rows // 2:
                w, dw = one_minus_d**2, -2.0 * d * one_minus_d**2
            else:
                w, dw = d**2, 2.0 * d**2 * one_minus_d
            dlogit[row] += np.float32(gamma / (2.0 * n_rows) * g_squared * dw)
        total += w * g_squared
        scale = np.float32(gamma * w / n_rows)
        for j in range(dim):
            g[i, j] *= scale  # g becomes gbar = vbar_0 = d penalty / d g
    return gamma / 2.0 * total / n_rows


@njit(error_model="numpy")
def penalty_backward_one(theta, acts, kind, n_rows, layout, act, tangent, gbar, dtheta, work,
                         dweight):  # fmt: skip
    """One GAN: the adjoint of penalty_forward_one's tangent pass, each W_l's gradient
    added into dtheta (the biases get none: act'' = 0). work: (2 * rows * widest) floats."""
    n_layers, widest = layout.sizes.shape[0] - 1, layout.sizes.max()
    first, last = _rows(kind, n_rows)
    rows = last - first
    vbar = gbar[: rows * layout.sizes[0]].reshape(rows, layout.sizes[0])
    for layer in range(n_layers):  # from v_{l-1} = u_l W_l^T, l = 1 .. L
        n_in, n_out = layout.sizes[layer], layout.sizes[layer + 1]
        dW = mlp.weight_of(dtheta, layout, layer)
        product = dweight[: n_in * n_out].reshape(n_in, n_out)
        if layer < n_layers - 1:
            u = mlp.hidden_of(tangent, layout, layer, rows)
            np.dot(vbar.T, u, product)  # dW_l += vbar_{l-1}^T u_l
        else:  # u_L = 1: the column sums of vbar_{L-1}
            product[:, 0] = 0
            for i in range(rows):
                for k in range(n_in):
                    product[k, 0] += vbar[i, k]
        for k in range(n_in):
            for j in range(n_out):
                dW[k, j] += product[k, j]
        if layer < n_layers - 1:  # vbar_l = s_l * (vbar_{l-1} W_l)
            ubar = work[(layer % 2) * rows * widest :][: rows * n_out].reshape(rows, n_out)
            np.dot(vbar, mlp.weight_of(theta, layout, layer), ubar)
            _times_slope(ubar, mlp.hidden_of(acts, layout, layer, n_rows)[first:last], act)
            vbar = ubar


@njit(parallel=True, cache=True, error_model="numpy")
def _penalty_cpu(theta, acts, logit, kinds, gamma, layout, act, tangent, gbar, work, dweight):
    P, n_rows = logit.shape
    value = np.zeros(P, dtype=np.float32)
    dtheta, dlogit = np.zeros_like(theta), np.zeros_like(logit)
    for p in prange(P):
        if kinds[p] != NONE:
            value[p] = np.float32(penalty_forward_one(
                theta[p], acts[p], logit[p], dlogit[p], kinds[p], gamma[p], layout, act,
                tangent[p], gbar[p],
            ))  # fmt: skip
            penalty_backward_one(theta[p], acts[p], kinds[p], n_rows, layout, act, tangent[p],
                                 gbar[p], dtheta[p], work[p], dweight[p])  # fmt: skip
    return value, dtheta, dlogit


def penalty(spec, theta, cache: dict, logit, batch: int, kinds, gamma):
    """reference.penalty.penalty for every GAN: (value: (P,), dtheta: (P, n_params),
    dlogit: (P, N)), all zero for a GAN without a penalty. cache is fast.mlp.forward's on
    the N = 2 * batch rows; kinds (P,) codes (see `codes`), gamma (P,) float32."""
    check_activation(spec)
    if not np.all((kinds >= 0) & (kinds < len(PENALTIES))):
        raise ValueError(f"penalty codes must index {PENALTIES}, got {kinds}")
    P = logit.shape[0]
    tangent, gbar, dweight = (np.empty((P, n), np.float32) for n in scratch_sizes(spec, batch))
    work = np.empty((P, mlp.backward_work(spec.sizes, 2 * batch)), dtype=np.float32)
    return _penalty_cpu(
        theta, cache["acts"], np.ascontiguousarray(logit, np.float32), kinds,
        np.asarray(gamma, np.float32), mlp.layout(spec, 2 * batch), mlp.activation_code(spec),
        tangent, gbar, work, dweight,
    )  # fmt: skip


def penalised_backward(spec, theta, cache: dict, logit, loss, dlogits, batch: int, kinds, gamma):
    """reference.penalty.penalised_backward for every GAN: D's backward for its loss plus
    each GAN's penalty, given the loss (P,) and dlogits (P, N, 1) -> (loss + penalty: (P,),
    dtheta: (P, n_params), dlogits: (P, N, 1) with Roth's term, the penalty: (P,), 0 for a
    GAN without one). A population without any penalty adds nothing (on any device), and
    its penalty is None."""
    if not (kinds != NONE).any():
        return loss, mlp.backward(spec, theta, cache, dlogits)[0], dlogits, None
    value, dtheta_penalty, dlogit_penalty = penalty(spec, theta, cache, logit, batch, kinds, gamma)
    dlogits = dlogits + dlogit_penalty[:, :, None]  # one backward pass carries both
    dtheta, _ = mlp.backward(spec, theta, cache, dlogits)
    dtheta += dtheta_penalty
    return loss + value, dtheta, dlogits, value
