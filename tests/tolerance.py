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
