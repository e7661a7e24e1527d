"""The data, toys and real images: each a seeded sampler plus its exact description.

A distribution is either a finite mixture of axis-aligned Gaussians (a std of 0 along an
axis makes that component a point mass along it), a zero-width circle, a 1-D curve in
2-D, or a set of images (reference/digits.py), the mixture of one point mass per image.
The descriptions are what the metrics and the theory read; the samplers draw from the
Philox streams of reference/philox.py, so a batch is a pure function of (seed, step,
stream), identical whichever backend later consumes it.

Contract: plain NumPy, float64. Samples are (N, dim).
"""

import functools
from dataclasses import dataclass

import numpy as np

from reference import digits
from reference.philox import Stream, SubstepRandom


@dataclass(frozen=True, eq=False)
class Mixture:
    """sum_k weights[k] * N(means[k], diag(stds[k]**2)). means, stds: (K, dim); weights: (K,)."""

    means: np.ndarray
    stds: np.ndarray
    weights: np.ndarray

    @property
    def dim(self) -> int:
        return self.means.shape[1]


@dataclass(frozen=True, eq=False)
class Circle:
    """The uniform distribution on the circle of the given radius around the origin in 2-D:
    a degenerate distribution whose support is a 1-D curve."""

    radius: float
    dim: int = 2


@dataclass(frozen=True, eq=False)
class Images(Mixture):
    """The empirical distribution of a set of images: one point mass per image (means: the
    (K, dim) images, stds 0, weights 1 / K), so every sampler draws it as a mixture. The
    metrics score samples of it with a classifier, not by their nearest mean."""


Distribution = Mixture | Circle


def mixture(means, stds, weights=None) -> Mixture:
    """A Mixture from array-likes; stds may be a scalar, (K,) or (K, dim); weights default to
    uniform and are normalised."""
    means = np.atleast_2d(np.asarray(means, dtype=np.float64))
    stds = np.broadcast_to(
        np.asarray(stds, dtype=np.float64).reshape(-1, 1) if np.ndim(stds) == 1 else stds,
        means.shape,
    ).astype(np.float64)
    weights = np.ones(len(means)) if weights is None else np.asarray(weights, dtype=np.float64)
    return Mixture(means, stds, weights / weights.sum())


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    angles = 2.0 * np.pi * np.arange(n_modes) / n_modes
    return mixture(radius * np.stack([np.cos(angles), np.sin(angles)], axis=1), std)


def grid(std: float = 0.05) -> Mixture:
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return mixture(np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2), std)


def ring_in(dim: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    """The ring laid in the plane of the first two axes of R^dim, with no spread at all
    along the other dim - 2: a thin set, whose share of the space shrinks as dim grows
    (dim 2: the ring itself)."""
    flat = ring(n_modes, radius, std)
    off_plane = np.zeros((n_modes, dim - 2))
    means = np.concatenate([flat.means, off_plane], axis=1)
    stds = np.concatenate([flat.stds, off_plane], axis=1)
    return Mixture(means, stds, flat.weights)


RING_DIMENSIONS = (3, 8, 32, 128)  # the ring in d dimensions: datasets ring3d ... ring128d

TOYS: dict[str, Distribution] = {  # built here
    "ring": ring(),
    "grid": grid(),
    "circle": Circle(radius=2.0),
    **{f"ring{dim}d": ring_in(dim) for dim in RING_DIMENSIONS},
    "points": mixture([[-1.0], [1.0]], 0.0),  # two point masses on the line, for the theory
}


DIGITS = "digits"  # built on first use: it reads scikit-learn's copy of the images
DATASET_NAMES = (*TOYS, DIGITS)


@functools.cache
def digit_images() -> Images:
    """The training split of the 8x8 digits as a distribution over R^64."""
    x, _ = digits.images("train")
    return Images(x, np.zeros_like(x), np.full(len(x), 1.0 / len(x)))


def get_dataset(name: str) -> Distribution:
    if name == DIGITS:
        return digit_images()
    if name not in TOYS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASET_NAMES)}")
    return TOYS[name]


def sample(distribution: Distribution, rng: SubstepRandom, n: int) -> np.ndarray:
    """(n, dim) float64 samples of the distribution, drawn from the substep's DATA_CHOICE
    and DATA_OFFSET streams."""
    choice_u = rng.uniform(Stream.DATA_CHOICE, n)
    if isinstance(distribution, Circle):
        angle = 2.0 * np.pi * choice_u
        return distribution.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    # Inverse-CDF choice of the component; min() guards against rounding in the last cumsum.
    cumulative = np.cumsum(distribution.weights)
    component = np.minimum(np.searchsorted(cumulative, choice_u, side="right"), len(cumulative) - 1)
    offset = rng.normal(Stream.DATA_OFFSET, (n, distribution.dim))
    return distribution.means[component] + distribution.stds[component] * offset
