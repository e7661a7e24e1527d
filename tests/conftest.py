"""Hypothesis profiles: `ci` (the default, set in pyproject.toml) fits the CI budget of
2 cores; `thorough` runs many more examples: python -m pytest --hypothesis-profile=thorough.
deadline=None because Numba and CUDA compile on first call, which blows any deadline."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
