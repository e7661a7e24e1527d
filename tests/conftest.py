"""Hypothesis profiles: `ci` (the default, set in pyproject.toml) fits the CI budget of
2 cores and tries the same examples on every run, so that a red CI is the code's, not the
draw's; `thorough` runs many more, fresh each run, to find new failures:
python -m pytest --hypothesis-profile=thorough.
deadline=None because Numba and CUDA compile on first call, which blows any deadline.
The `backend` fixture runs a fast/ test once per backend, the GPU only where one exists."""

import pytest
from hypothesis import HealthCheck, settings

from fast import device

settings.register_profile(  # the same examples every run, and no database: a gate
    "ci",
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
settings.register_profile(
    "thorough", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(
    scope="session",  # session-scoped, so Hypothesis can reuse it across examples
    params=[
        "cpu",
        pytest.param(
            "gpu",
            marks=[
                pytest.mark.gpu,
                pytest.mark.skipif(not device.gpu_available(), reason="needs CuPy and a GPU"),
            ],
        ),
    ],
)
def backend(request) -> str:
    """'cpu' or 'gpu': where a fast/ test puts its arrays."""
    return request.param
