"""The one agreement helper every comparison test uses.

A value passes when |actual - expected| <= atol + rtol * |expected| elementwise. Failures
report the worst error as a multiple of the tolerance and where it occurred, so a failing
test names the tensor and how far off it is (the llm.c validate_result habit).
"""

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)  # 2**-23, the spacing of float32 at 1.0
FLOAT64_EPS = float(np.finfo(np.float64).eps)  # 2**-52


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
    ratio = error / tolerance
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
    """The error of a float32 result against the float64 reference, as a fraction of the
    scale of the values involved (callers pass atol = this * (1 + max |expected|), rtol 0).

    A float32 sum of n_terms products, each of size <= scale, is within n_terms * eps * scale
    of the exact sum (Higham, "Accuracy and Stability of Numerical Algorithms", 2002, sec. 3.1:
    gamma_n = n u / (1 - n u) with u = eps / 2, rounded up to n eps); doubled for the bias add
    and the activation around each product. A chain of `depth` such layers adds their errors
    to first order, so depth multiplies. The bound is a worst case: the typical error is
    sqrt(n_terms) times smaller, so it rarely comes near 1x tolerance. The scale's `1 +` keeps
    it meaningful where a sum cancels to ~0 (an output bias gradient, a logit near 0).
    """
    return 2.0 * depth * n_terms * FLOAT32_EPS
