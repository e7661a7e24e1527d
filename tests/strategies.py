"""Hypothesis strategies shared by the tests of every path (reference, fast CPU, fast GPU).

Each strategy draws the kind of input that breaks numerical code: batch 1, widths of 1,
batches that are not a multiple of any block size, logits far past the point where a naive
exp overflows, sigma = 0. Arrays are drawn as seeds and built with NumPy, because
Hypothesis' element-wise array strategies shrink slowly and test nothing extra here.

Contract: strategies only; no assertions. Shapes follow the repository's names:
P population, B batch, dim the data dimension, N a generic count.
"""

import numpy as np
from hypothesis import strategies as st

from reference import mlp
from reference.philox import Stream

activations = st.sampled_from(mlp.ACTIVATIONS)
batch_sizes = st.integers(min_value=1, max_value=7)
widths = st.integers(min_value=1, max_value=9)
populations = st.integers(min_value=1, max_value=4)  # P for the fast path's leading axis
seeds = st.integers(min_value=0, max_value=2**64 - 1)
steps = st.integers(min_value=0, max_value=2**32 - 1)  # the counter's step word
streams = st.integers(min_value=0, max_value=2**32 - 1)  # the counter's stream word
stream_kinds = st.sampled_from(Stream)
# Every substep whose streams, stream_id(kind, substep), still fit the 32-bit stream word.
substeps = st.integers(min_value=0, max_value=(2**32 - len(Stream)) // len(Stream))
sigmas = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=3.0))
label_smoothings = st.sampled_from((1.0, 0.9, 0.7))
label_flips = st.sampled_from((0.0, 0.05, 0.3, 1.0))
generator_loss_kinds = st.sampled_from(("non-saturating", "minimax"))


@st.composite
def mlp_specs(draw, min_layers: int = 2, max_layers: int = 4) -> mlp.MLPSpec:
    """An MLPSpec with min_layers..max_layers weight layers, each width in 1..9."""
    n_layers = draw(st.integers(min_value=min_layers, max_value=max_layers))
    sizes = tuple(draw(widths) for _ in range(n_layers + 1))
    return mlp.MLPSpec(sizes, draw(activations))


def rng_from(draw) -> np.random.Generator:
    """A NumPy generator seeded by Hypothesis, so a failing example replays exactly."""
    return np.random.default_rng(draw(st.integers(min_value=0, max_value=2**32 - 1)))


@st.composite
def logits(draw, shape: tuple[int, ...], scale: float = 1e4) -> np.ndarray:
    """float64 logits of the given shape spread over (-scale, scale) on a log scale, so that
    both tiny (|l| ~ 1e-3) and huge (|l| ~ scale) values appear, plus exact zeros."""
    rng = rng_from(draw)
    magnitude = np.exp(rng.uniform(np.log(1e-3), np.log(scale), size=shape))
    sign = rng.choice([-1.0, 0.0, 1.0], p=[0.45, 0.1, 0.45], size=shape)
    return sign * magnitude


@st.composite
def targets(draw, shape: tuple[int, ...]) -> np.ndarray:
    """float64 targets in [0, 1]: hard labels 0 and 1 mixed with smoothed ones."""
    rng = rng_from(draw)
    soft = rng.uniform(0.0, 1.0, size=shape)
    return np.where(rng.uniform(size=shape) < 0.5, np.round(soft), soft)
