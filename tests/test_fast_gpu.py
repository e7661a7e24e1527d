"""Tests of fast/graph_step_gpu.py::GraphStep, the GPU training step with preallocated
buffers replayed as one CUDA graph: eager and captured, it replays fast.gan.composed_step
(which tests/test_fast_*.py check against the float64 reference on every backend), step
after step, with the step word, Adam's bias corrections and an annealed sigma read from
device memory.

Marked `gpu` and skipped without CuPy and a CUDA device.
"""

import numpy as np
import pytest

from fast import device
from fast import gan as fast_gan
from fast.graph_step_gpu import GraphStep
from reference.config import GANConfig
from tests.test_fast_gan import step_atol, step_terms
from tests.tolerance import assert_close, float32_atol

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not device.gpu_available(), reason="needs CuPy and a CUDA device"),
]


def host(array) -> np.ndarray:
    return device.to_host(array)


@pytest.mark.parametrize("use_graph", [False, True], ids=["eager", "graph"])
def test_graph_step_replays_the_composed_step(use_graph):
    # The same kernels and GEMMs on the same inputs, with the step and Adam's corrections
    # read from device memory. Expected bit for bit, but cuBLAS only promises that on one
    # stream and GraphStep runs on its own: so the one-step float32 bound, which a wrong
    # step word (other noise: O(1) off) or correction (lr-sized) would still break by far.
    # Annealing changes sigma at every step; two D substeps exercise the per-update
    # corrections.
    base = GANConfig(batch=64, hidden=32, sigma0=0.3, anneal="linear", anneal_steps=4,
                         label_flip=0.05, d_steps=2)  # fmt: skip
    population = fast_gan.PopulationConfig.seeded(base, seeds=(5, 6), sigma0s=(0.3, 0.0))
    plain, replayed = (fast_gan.init_state(population, "gpu") for _ in "pr")
    graph_step = GraphStep(population, replayed, use_graph=use_graph)
    for step in range(4):
        record, intermediates = fast_gan.composed_step(population, plain, step)
        graph_record, graph_intermediates = graph_step(step)
        assert set(graph_intermediates) == set(intermediates)
        for name, value in {**intermediates, **record}.items():
            if name == "step":
                continue
            expected = host(value).astype(np.float64)
            actual = host({**graph_intermediates, **graph_record}[name])
            # each tensor at its own scale (tests/test_fast_gan.py::step_atol), all GANs'
            # values together
            atol = step_atol(base, name, expected, intermediates)
            assert_close(f"{name}@{step}", actual, expected, atol=atol, rtol=0.0)
    assert use_graph == (graph_step.graph is not None), "capture failed: see the printed reason"
    # Parameters are O(1) by construction (init bound 1 / sqrt(fan_in) <= 1, plus at most lr
    # per Adam update): floor 1. Adam normalises each update, so a gradient's relative error
    # d moves a parameter by about d lr per update: the 12 updates stay far inside one bound.
    n_terms, depth = step_terms(base)
    for name in ("theta_G", "theta_D"):
        expected = host(getattr(plain, name))
        atol = float32_atol(expected, n_terms, depth, floor=1.0)
        assert_close(name, host(getattr(replayed, name)), expected, atol=atol, rtol=0.0)
    assert (replayed.adam_D.t, replayed.adam_G.t) == (plain.adam_D.t, plain.adam_G.t) == (8, 4)
