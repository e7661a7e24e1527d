"""The one agreement helper every comparison test uses.

A value passes when |actual - expected| <= atol + rtol * |expected| elementwise; a float32
result against the float64 reference takes atol from float32_atol. Failures
report the worst error as a multiple of the tolerance and where it occurred, so a failing
test names the tensor and how far off it is (the llm.c validate_result habit).
"""

import numpy as np

from reference import mlp, penalty

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 2**-23, the spacing of float32 at 1.0
FLOAT64_EPS = float(np.finfo(np.float64).eps)  # 2**-52
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # 2**-126, float32's smallest normal


def assert_close(name: str, actual, expected, atol: float, rtol: float) -> float:
    """Assert elementwise agreement; return the worst error as a fraction of the tolerance."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    if actual.size == 0:
        return 0.0
    assert np.all(np.isfinite(actual)), f"{name}: non-finite values in the actual result"
    error = np.abs(actual - expected)
    tolerance = atol + rtol * np.abs(expected)
    # an exact match passes even at zero tolerance (a tensor that is exactly 0, e.g. the
    # gradient of a dead ReLU layer, must be exactly 0); any error there is infinitely far
    ratio = np.divide(error, tolerance, out=np.zeros_like(error), where=error > 0)
    ratio[(error > 0) & (tolerance <= 0)] = np.inf
    worst = int(np.argmax(ratio))
    fraction = float(ratio.reshape(-1)[worst])
    where = np.unravel_index(worst, actual.shape)
    assert fraction <= 1.0, (
        f"{name}: worst error {fraction:.2f}x tolerance at {where}: "
        f"actual {actual[where]!r}, expected {expected[where]!r} "
        f"(atol {atol:.2e}, rtol {rtol:.2e})"
    )
    return fraction


def float32_tolerance(n_terms: int, depth: int = 1) -> float:
    """The float32 error of a computation against the float64 reference, as a fraction of
    the scale of the values involved: 2 depth n_terms eps. Use it through float32_atol,
    which says what the scale is and derives the bound."""
    return 2.0 * depth * n_terms * FLOAT32_EPS


def float32_atol(expected, n_terms: int, depth: int = 1, floor: float = 0.0,
                 gain: float = 1.0) -> float:  # fmt: skip
    """The absolute tolerance of one float32 tensor against its float64 reference value
    `expected`: float32_tolerance(n_terms, depth) * gain * max(max |expected|, floor).
    Every fast agreement test takes its tolerance from here.

    Derivation. A float32 sum of n products is within gamma_n * sum |terms| of the exact
    sum, gamma_n = n u / (1 - n u), u = eps / 2 (Higham, "Accuracy and Stability of
    Numerical Algorithms", 2002, sec. 3.1); rounding errors of random sign make the error
    about lambda sqrt(n) u sum |terms| with high probability (Higham and Mary, SIAM J. Sci.
    Comput. 41, 2019). By Cauchy-Schwarz sum |terms| <= sqrt(n) ||terms||_2, and a network's
    sums have terms of incoherent sign, whose sum has size ||terms||_2: so each element is
    within about n u lambda of the scale of its own tensor. That scale is max |expected| of
    the tensor itself (never 1 + max |expected|, which lets a tensor much smaller than 1
    pass as zeros); an element that cancels is held to its tensor's scale, not its own.
    The factor 2 (with u = eps / 2: n eps) covers the bias add and the activation, and a
    chain of `depth` such layers adds its relative errors to first order, so depth
    multiplies. BLAS (OpenBLAS, cuBLAS) orders and blocks a sum differently but stays
    within these bounds, which do not assume an order.

    Margin: the bound has lambda = 4 depth (the sqrt(n) of the probabilistic bound, the
    n of the worst case). Measured on the CPU (OpenBLAS) over the `thorough` profile, the
    worst error is 0.27 of it (a G weight gradient at batch 1, widths 3-4, where n is too
    small for sqrt(n) to help); at the standard configuration it is 0.0016. Runs of that
    profile under other seeds found cases past 1, each a scale this had missed, not a
    margin: a cancellation upstream of the last sum (network_terms now carries the terms
    through the backward) and a tensor below float32's range (the FLOAT32_TINY scale).
    cuBLAS orders its sums otherwise but is bounded alike (O(eps sqrt(K)) per GEMM),
    inside that margin.

    floor: the scale of the tensor's terms, where it can exceed the tensor's own max because
    the sum cancels (a single-element tensor: batch 1, width 1, an output bias gradient):
    max ||terms||_2 from network_terms, or where it is known by construction (a logit or a
    loss is a sum of O(1) terms, a dlogit (sigmoid - target) / n has terms of size 1 / n);
    0 otherwise.
    gain: how much the tensor's relative error exceeds its own arithmetic's, by
    construction (the caller says why); 1 otherwise.
    """
    scale = max(float(np.abs(np.asarray(expected, dtype=np.float64)).max(initial=0.0)), floor)
    if scale > 0.0:
        # float32 holds nothing below its smallest normal with relative precision (then
        # subnormals, then 0): a tensor wholly below it, as a gradient fed only by saturated
        # logits' dlogits (1e-186 in float64, 0 in float32), is held to that scale instead.
        # A tensor of exact zeros stays exact.
        scale = max(scale, FLOAT32_TINY)
    return float32_tolerance(n_terms, depth) * gain * scale


def network_terms(spec: mlp.MLPSpec, theta, x, dy, prefix: str = "d", suffix: str = "") -> dict:
    """For one network's forward on x and backward from dy (float64, the reference's values,
    or the sizes of their terms where those exceed them: only |dy| is read):
    per tensor, the max over its elements of ||terms||_2, the root sum of squares of the
    products summed to make that element: 'y', '{prefix}W{l}{suffix}', '{prefix}b{l}{suffix}'
    and 'dx'. float32_atol's scale where a sum cancels."""
    _, cache = mlp.forward(spec, theta, x)
    views = mlp.layer_views(spec, theta)
    weight, bias = views[-1]
    h = cache[f"h{spec.n_layers - 1}"]
    terms = {"y": np.sqrt(h**2 @ weight**2 + bias**2).max()}
    # The backward's gradients as the size of their terms, not their sums: a sum that
    # cancels keeps its terms' rounding error, which every later product carries (under the
    # thorough profile a hidden layer's input gradient that cancelled 50-fold took dx to
    # 1.6 times a tolerance scaled by the last sum's terms alone).
    da_terms = np.abs(dy)
    for layer in range(spec.n_layers, 0, -1):
        weight, h_in = views[layer - 1][0], cache[f"h{layer - 1}"]
        terms[f"{prefix}W{layer}{suffix}"] = np.sqrt(h_in.T**2 @ da_terms**2).max()
        terms[f"{prefix}b{layer}{suffix}"] = np.sqrt(np.sum(da_terms**2, axis=0)).max()
        dh_terms = np.sqrt(da_terms**2 @ weight.T**2)
        terms["dx"] = dh_terms.max()
        if layer > 1:  # act' >= 0 for every activation: the product is a size too
            da_terms = mlp.activation_backward(
                spec.activation, cache[f"a{layer - 1}"], h_in, dh_terms
            )
    return terms


def penalty_terms(spec: mlp.MLPSpec, theta, x, logit, batch: int, kind: str, gamma: float,
                  prefix: str = "d", suffix: str = "") -> dict:  # fmt: skip
    """network_terms for reference/penalty.py's sums on D's batch x (float64): per tensor,
    the max over its elements of ||terms||_2: 'penalty' (the value's sum of gamma / 2N w
    ||g||^2), '{prefix}W{l}{suffix}' (the adjoint's vbar^T u), 'dlogit' (Roth's term, a
    product: its own size). The tangent pass's own sums reach these through g, whose
    terms' ||.||_2 sets g's rounding, so g's size here is that ||.||_2 where it is larger."""
    _, cache = mlp.forward(spec, theta, x)
    w, dw = penalty.weights(kind, logit, batch)
    views = mlp.layer_views(spec, theta)
    u_hidden, g = penalty.tangents(spec, theta, cache)
    n_rows = x.shape[0]
    # the squared weights' tangent pass sums every path's squared product (times slopes
    # <= 1, once not twice: an overestimate)
    _, g_terms = penalty.tangents(spec, theta**2, cache)
    g_size = np.sqrt(np.maximum(g_terms, g**2))  # (N, dim)
    g_squared = np.sum(g_size**2, axis=1)
    terms = {
        "penalty": gamma / (2 * n_rows) * np.sqrt(np.sum((w * g_squared) ** 2)),
        "dlogit": float(np.max(gamma / (2 * n_rows) * g_squared * np.abs(dw), initial=0.0)),
    }
    u = [*u_hidden, np.ones((n_rows, 1))]
    vbar = gamma / n_rows * w[:, None] * g_size
    for layer in range(1, spec.n_layers + 1):
        terms[f"{prefix}W{layer}{suffix}"] = np.sqrt(vbar.T**2 @ u[layer - 1] ** 2).max()
        if layer < spec.n_layers:
            ubar = vbar @ np.abs(views[layer - 1][0])
            vbar = mlp.activation_backward(
                spec.activation, cache[f"a{layer}"], cache[f"h{layer}"], ubar
            )
    if kind == "roth":
        # Roth's weights read the float32 logit, off by its own rounding (the scale of its
        # terms, network_terms' 'y', times float32's tolerance); |d log w / dphi| <= 2 and
        # |d log dw / dphi| <= 3, so every term carrying w or dw moves by up to 3 times that
        logit_terms = network_terms(spec, theta, x, np.zeros((n_rows, 1)))["y"]
        terms = {name: value * (1.0 + 3.0 * logit_terms) for name, value in terms.items()}
    return terms
