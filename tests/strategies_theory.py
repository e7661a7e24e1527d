"""Hypothesis strategies for the theory tests: 1-D mixtures of point masses and narrow
Gaussians, the configurations of the note (disjoint, nearly degenerate supports).

Arrays are built with NumPy from a drawn seed (as in tests/strategies.py), so a failing
example replays exactly. Contract: strategies only; no assertions.
"""

import numpy as np
from hypothesis import strategies as st

from reference import data
from tests.strategies import rng_from

NARROW_STD = (0.01, 0.1)  # a "narrow" Gaussian: far below the instance noise the tests use


@st.composite
def mixtures_1d(draw, max_components: int = 2, point_masses_only: bool = False) -> data.Mixture:
    """1..max_components components with means in [-1, 1], weights in [0.3, 1] (normalised)
    and stds either 0 (a point mass) or narrow."""
    rng = rng_from(draw)
    k = int(rng.integers(1, max_components + 1))
    narrow = rng.uniform(*NARROW_STD, size=k)
    is_point = point_masses_only | (rng.uniform(size=k) < 0.5)
    stds = np.where(is_point, 0.0, narrow)
    return data.mixture(rng.uniform(-1.0, 1.0, size=(k, 1)), stds, rng.uniform(0.3, 1.0, size=k))


@st.composite
def disjoint_atoms_1d(draw, min_gap: float = 0.2) -> tuple[data.Mixture, data.Mixture]:
    """(p, q): point masses in 1-D, p's atoms in [-1, -min_gap / 2], q's in [min_gap / 2, 1],
    so the supports are disjoint and stay so under shifts of q smaller than min_gap / 2."""
    rng = rng_from(draw)
    k_p, k_q = (int(k) for k in rng.integers(1, 4, size=2))
    p = data.mixture(rng.uniform(-1.0, -min_gap / 2, (k_p, 1)), 0.0, rng.uniform(0.3, 1.0, k_p))
    q = data.mixture(rng.uniform(min_gap / 2, 1.0, (k_q, 1)), 0.0, rng.uniform(0.3, 1.0, k_q))
    return p, q


sigmas = st.floats(min_value=0.05, max_value=2.0)  # instance noise wide enough for quadrature
label_flips = st.floats(min_value=0.0, max_value=0.5)
