"""Counter-based random numbers: Philox4x32-10, its uniforms and normals, and the streams.

Every random number in training is a pure function of (seed, step, stream, element index):
no generator state is carried from one step to the next. That is what lets the fast path
regenerate exactly the same numbers inside its kernels, whatever its launch configuration,
and what makes a run's whole state its parameters, Adam's moments and the step index.

The generator is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
3", SC 2011). One call maps a 128-bit counter and a 64-bit key to four uint32 words:

    key     = (seed mod 2**32, seed div 2**32)
    counter = (block mod 2**32, block div 2**32, step, stream),  block = index // 4
    word    = index % 4 of the call's output

uint32 -> uniform in (0, 1) is (word + 0.5) / 2**32, exact in float64 and never 0 or 1.
uniform -> standard normal is Box-Muller on the word pairs (0, 1) and (2, 3) of one call,
computed in float64 (the fast path rounds the result to float32).

A training step has substeps s = 0 .. d_steps - 1 for the discriminator and s = d_steps for
the generator. `SubstepRandom(key, step, s)` is the random numbers of one substep: each kind
of randomness (`Stream`) draws from its own stream of it, by name.

Contract: plain NumPy, float64 (uint32 for the raw words); shapes are flat (N,) unless said.
"""

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

PHILOX_ROUNDS = 10
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint32(0x9E3779B9)
PHILOX_W1 = np.uint32(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)
TWO_POW_MINUS_32 = 2.0**-32


class Stream(IntEnum):
    """What a random number is for; stream_id(kind, substep) keeps the substeps apart."""

    DATA_CHOICE = 0  # uniform: which mixture component (or angle on a curve) a data sample takes
    DATA_OFFSET = 1  # normal: the Gaussian offset of a data sample from its component mean
    LATENT = 2  # normal: the generator's input z
    REAL_NOISE = 3  # normal: instance noise on real samples
    FAKE_NOISE = 4  # normal: instance noise on generated samples
    LABEL_FLIP = 5  # uniform: which labels are flipped


def stream_id(kind: Stream, substep: int) -> int:
    """The counter's stream word for one kind of randomness in one substep of a step."""
    return int(kind) + len(Stream) * substep


def key_from_seed(seed: int) -> np.ndarray:
    """(2,) uint32: the Philox key of a 64-bit seed."""
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32)


def _mulhilo(multiplier: np.uint64, word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High and low 32-bit halves of a 32x32 -> 64-bit product, as uint32."""
    product = multiplier * word.astype(np.uint64)
    return (product >> np.uint64(32)).astype(np.uint32), (product & MASK32).astype(np.uint32)


def philox4x32(counter: np.ndarray, key: np.ndarray, rounds: int = PHILOX_ROUNDS) -> np.ndarray:
    """Philox4x32 on a batch of counters.

    counter: (N, 4) uint32, key: (2,) uint32 -> (N, 4) uint32.
    """
    c0, c1, c2, c3 = (counter[:, i].astype(np.uint32) for i in range(4))
    k0, k1 = np.uint32(key[0]), np.uint32(key[1])
    with np.errstate(over="ignore"):  # the key schedule is meant to wrap modulo 2**32
        for r in range(rounds):
            if r > 0:
                k0, k1 = k0 + PHILOX_W0, k1 + PHILOX_W1
            hi0, lo0 = _mulhilo(PHILOX_M0, c0)
            hi1, lo1 = _mulhilo(PHILOX_M1, c2)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1)


def random_words(key: np.ndarray, step: int, stream: int, n: int) -> np.ndarray:
    """(n,) uint32: word index % 4 of Philox(counter(index // 4, step, stream), key)."""
    blocks = np.arange((n + 3) // 4, dtype=np.uint64)
    counter = np.empty((blocks.size, 4), dtype=np.uint32)
    counter[:, 0] = blocks & MASK32
    counter[:, 1] = blocks >> np.uint64(32)
    counter[:, 2] = step
    counter[:, 3] = stream
    return philox4x32(counter, key).reshape(-1)[:n]


def uniform_from_words(words: np.ndarray) -> np.ndarray:
    """uint32 -> float64 in the open interval (0, 1)."""
    return (words.astype(np.float64) + 0.5) * TWO_POW_MINUS_32


def normal_from_words(words: np.ndarray) -> np.ndarray:
    """(4M,) uint32 -> (4M,) float64 standard normals, Box-Muller on word pairs (0,1), (2,3)."""
    u = uniform_from_words(words).reshape(-1, 2)
    radius = np.sqrt(-2.0 * np.log(u[:, 0]))
    angle = 2.0 * np.pi * u[:, 1]
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).reshape(-1)


def uniform(key: np.ndarray, step: int, stream: int, n: int) -> np.ndarray:
    """(n,) float64 uniforms in (0, 1); element i depends only on (key, step, stream, i)."""
    return uniform_from_words(random_words(key, step, stream, n))


def normal(key: np.ndarray, step: int, stream: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normals of the given shape, element i of the row-major flattening depending
    only on (key, step, stream, i)."""
    n = int(np.prod(shape))
    words = random_words(key, step, stream, 4 * ((n + 3) // 4))
    return normal_from_words(words)[:n].reshape(shape)


@dataclass(frozen=True)
class SubstepRandom:
    """The random numbers of one substep of one training step, drawn by kind:

        rng = SubstepRandom(key, step, substep)
        z = rng.normal(Stream.LATENT, (B, Z))

    key: (2,) uint32 here; the fast path passes the population's (P, 2) keys, and its
    kernels read key, step and stream(kind) directly."""

    key: np.ndarray
    step: int
    substep: int

    def stream(self, kind: Stream) -> int:
        return stream_id(kind, self.substep)

    def uniform(self, kind: Stream, n: int) -> np.ndarray:
        return uniform(self.key, self.step, self.stream(kind), n)

    def normal(self, kind: Stream, shape: tuple[int, ...]) -> np.ndarray:
        return normal(self.key, self.step, self.stream(kind), shape)
