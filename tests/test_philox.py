"""Tests of reference/philox.py: Philox4x32-10 against the published known-answer vectors,
counter-based purity (element i depends only on (seed, step, stream, i)), the uniform and
normal transforms (range, moments with tolerances from the sample size), the stream ids of
the substeps, and SubstepRandom drawing bit for bit the stream stream_id(kind, substep)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special

from reference import philox
from tests.strategies import seeds, steps, stream_kinds, streams, substeps

# Random123 tests/kat_vectors, "philox4x32 10": (counter, key, expected output).
PHILOX_KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]  # fmt: skip


def u32(*words) -> np.ndarray:
    return np.array(words, dtype=np.uint32)


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_known_answers(counter, key, expected):
    assert np.array_equal(philox.philox4x32(u32(counter), u32(*key)), u32(expected))


def test_philox_is_batched_row_by_row():
    # A batch of counters gives each row what it gives alone: no mixing across rows.
    counters = u32(*[c for c, _, _ in PHILOX_KAT])
    key = u32(0x12345678, 0x9ABCDEF0)
    alone = np.concatenate([philox.philox4x32(counters[i : i + 1], key) for i in range(3)])
    assert np.array_equal(philox.philox4x32(counters, key), alone)


def test_key_from_seed_splits_64_bits_and_rejects_out_of_range():
    assert np.array_equal(philox.key_from_seed(0x0123456789ABCDEF), u32(0x89ABCDEF, 0x01234567))
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="seed"):
            philox.key_from_seed(bad)


def test_stream_ids_are_distinct_across_kinds_and_substeps():
    ids = [philox.stream_id(kind, s) for s in range(8) for kind in philox.Stream]
    assert len(set(ids)) == len(ids)


@given(seed=seeds, step=steps, stream=streams, n=st.integers(1, 41))
def test_random_words_follow_the_documented_counter_layout(seed, step, stream, n):
    key = philox.key_from_seed(seed)
    index = np.arange(n)
    counter = np.zeros((n, 4), dtype=np.uint32)
    counter[:, 0], counter[:, 2], counter[:, 3] = index // 4, step, stream
    expected = philox.philox4x32(counter, key)[index, index % 4]
    assert np.array_equal(philox.random_words(key, step, stream, n), expected)


def test_block_index_high_word_is_part_of_the_counter():
    # Element indices past 2**34 have blocks past 2**32; their counter carries block >> 32 in
    # word 1, so block 2**32 + b must not alias block b (which a 32-bit index would give).
    key = philox.key_from_seed(7)
    low = np.array([[5, 0, 3, 11]], dtype=np.uint32)
    high = np.array([[5, 1, 3, 11]], dtype=np.uint32)
    words_low, words_high = philox.philox4x32(low, key), philox.philox4x32(high, key)
    # Four independent 32-bit words agree by chance with probability 2**-32 each.
    assert np.all(words_low != words_high)


@given(seed=seeds, step=steps, stream=streams, n=st.integers(1, 30), extra=st.integers(1, 30))
def test_uniform_and_normal_are_prefix_stable(seed, step, stream, n, extra):
    # Element i depends only on (seed, step, stream, i): asking for more changes nothing.
    key = philox.key_from_seed(seed)
    assert np.array_equal(
        philox.uniform(key, step, stream, n), philox.uniform(key, step, stream, n + extra)[:n]
    )
    longer = philox.normal(key, step, stream, (n + extra,))
    assert np.array_equal(philox.normal(key, step, stream, (n,)), longer[:n])


@given(seed=seeds, step=steps, stream=streams, rows=st.integers(1, 6), cols=st.integers(1, 6))
def test_normal_shape_is_the_row_major_flattening(seed, step, stream, rows, cols):
    key = philox.key_from_seed(seed)
    flat = philox.normal(key, step, stream, (rows * cols,))
    assert np.array_equal(philox.normal(key, step, stream, (rows, cols)).reshape(-1), flat)


@pytest.mark.parametrize("change", ["seed_low", "seed_high", "step", "stream"])
def test_words_differ_when_any_counter_or_key_input_changes(change):
    seed, step, stream, n = 3, 10, 4, 64
    base = philox.random_words(philox.key_from_seed(seed), step, stream, n)
    seed = {"seed_low": seed + 1, "seed_high": seed + 2**32}.get(change, seed)
    step, stream = step + (change == "step"), stream + (change == "stream")
    other = philox.random_words(philox.key_from_seed(seed), step, stream, n)
    # 64 independent words coincide somewhere with probability 64 * 2**-32 ~ 1.5e-8.
    assert np.all(base != other)


def test_uniform_is_in_the_open_interval_at_the_extreme_words():
    u = philox.uniform_from_words(u32(0, 1, 0xFFFFFFFE, 0xFFFFFFFF))
    assert np.all((u > 0.0) & (u < 1.0))
    # (w + 0.5) / 2**32 is exact in float64 (33 significant bits), so the ends are exact.
    assert u[0] == 2.0**-33 and u[-1] == 1.0 - 2.0**-33
    z = philox.normal_from_words(u32(0, 0, 0xFFFFFFFF, 0xFFFFFFFF))
    assert np.all(np.isfinite(z))


N_MOMENTS = 2**20  # 1M draws: 5-sigma bands of a few thousandths, in about 0.3 s


@pytest.mark.parametrize(("seed", "step", "stream"), [(0, 0, 0), (2**63 + 12345, 77, 9)])
def test_normal_moments_and_distribution(seed, step, stream):
    z = philox.normal(philox.key_from_seed(seed), step, stream, (N_MOMENTS,))
    n = z.size
    # Each bound is 5 standard errors of the statistic under N(0, 1): a false alarm has
    # probability ~ 6e-7. Var of the sample mean is 1/n, of the mean of z^2 is 2/n, of
    # the mean of z^4 is (E z^8 - 9)/n = 96/n, of the mean of z_{2i} z_{2i+1} is 1/n.
    assert abs(z.mean()) < 5.0 / np.sqrt(n)
    assert abs(np.mean(z**2) - 1.0) < 5.0 * np.sqrt(2.0 / n)
    assert abs(np.mean(z**4) - 3.0) < 5.0 * np.sqrt(96.0 / n)
    # The two outputs of one Box-Muller pair (cos and sin) must be uncorrelated.
    pairs = z.reshape(-1, 2)
    assert abs(np.mean(pairs[:, 0] * pairs[:, 1])) < 5.0 * np.sqrt(2.0 / n)
    # Kolmogorov-Smirnov: P(sqrt(n) D > c) ~ 2 exp(-2 c^2); c = 2.9 gives a false alarm ~ 1e-7.
    ecdf = np.arange(1, n + 1) / n
    cdf = special.ndtr(np.sort(z))
    ks = max(np.max(ecdf - cdf), np.max(cdf - (ecdf - 1.0 / n)))
    assert ks < 2.9 / np.sqrt(n)


def test_uniform_moments():
    u = philox.uniform(philox.key_from_seed(11), 5, 2, N_MOMENTS)
    n = u.size
    # Var of the sample mean of U(0, 1) is 1/(12 n), of the mean of u^2 is 4/(45 n).
    assert abs(u.mean() - 0.5) < 5.0 * np.sqrt(1.0 / (12.0 * n))
    assert abs(np.mean(u**2) - 1.0 / 3.0) < 5.0 * np.sqrt(4.0 / (45.0 * n))


@given(
    seed=seeds,
    step=steps,
    substep=substeps,
    kind=stream_kinds,
    rows=st.integers(1, 6),
    cols=st.integers(1, 3),
)
def test_substep_random_draws_exactly_what_the_explicit_calls_drew(
    seed, step, substep, kind, rows, cols
):
    key = philox.key_from_seed(seed)
    rng = philox.SubstepRandom(key, step, substep)
    # The stream word is kind + 6 * substep, the layout the fast path's kernels compute.
    stream = int(kind) + len(philox.Stream) * substep
    assert rng.stream(kind) == philox.stream_id(kind, substep) == stream
    n = rows * cols
    assert np.array_equal(rng.uniform(kind, n), philox.uniform(key, step, stream, n))
    assert np.array_equal(
        rng.normal(kind, (rows, cols)), philox.normal(key, step, stream, (rows, cols))
    )
    # Frozen: a substep's random numbers cannot be moved to another step or substep.
    with pytest.raises(dataclasses.FrozenInstanceError):
        rng.step = step + 1  # type: ignore[misc]
