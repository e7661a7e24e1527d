"""sweep/blocks.py: a block stopped at any step saves that step, and continues from it to
the state and rows of the block trained without a stop; a stop during the last step is too
late to stop anything. A run that diverged has no metrics; one that covers at most one
mode collapsed."""

import signal
import time
from dataclasses import replace

import numpy as np
import pytest

from cli import checkpoint
from fast import gan as fast_gan
from reference import data, mlp
from sweep import grids
from sweep.blocks import evaluate_block, train_block

TINY = grids.GRIDS["tiny"]
MEMBERS = grids.block_members(TINY, "ring", 1)  # 10 runs of 400 steps
POPULATION = fast_gan.PopulationConfig(tuple(config for _, config in MEMBERS))
STEPS = TINY.base.steps


class Stop:
    """A StopRequest that a signal reaches after `after` steps (None: never)."""

    def __init__(self, after=None):
        self.signum, self.after, self.steps = None, after, 0

    def advance(self, n: int) -> None:
        self.steps += n
        if self.after is not None and self.steps >= self.after:
            self.signum = signal.SIGINT


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The block trained without a stop: (arrays, last record, rows)."""
    stop = Stop()
    path = tmp_path_factory.mktemp("whole") / "block.npz"
    arrays, last, _ = train_block(POPULATION, path, stop, stop.advance)
    assert stop.steps == STEPS and not path.exists()  # no checkpoint: 400 < CHECKPOINT_EVERY
    return arrays, last, evaluate_block(MEMBERS, arrays, last, 0.0)


@pytest.mark.parametrize("after", [1, 137, STEPS - 1])
def test_a_stop_at_any_step_saves_that_step_and_continues_to_the_whole_block(
    whole, tmp_path, after
):
    path, stop = tmp_path / "block.npz", Stop(after)
    assert train_block(POPULATION, path, stop, stop.advance) is None
    assert checkpoint.load(path)[0] == after  # the step it stopped at, not an older one
    resumed = Stop()
    arrays, last, _ = train_block(POPULATION, path, resumed, resumed.advance)
    assert resumed.steps == STEPS  # the saved steps, then the rest
    for name, array in whole[0].items():
        assert np.array_equal(arrays[name], array), name
    assert all(np.array_equal(last[name], whole[1][name]) for name in ("loss_D", "loss_G"))
    assert evaluate_block(MEMBERS, arrays, last, 0.0) == whole[2]


def test_a_blocks_seconds_count_every_process_that_trained_it(tmp_path):
    # The checkpoint keeps the seconds so far; planted far above what the rest takes, the
    # resumed block's count starts from them.
    path, stop = tmp_path / "block.npz", Stop(after=137)
    started = time.perf_counter()
    assert train_block(POPULATION, path, stop, stop.advance) is None
    step, arguments, arrays = checkpoint.load(path)
    assert 0.0 < float(arrays["seconds"]) <= time.perf_counter() - started
    checkpoint.save(path, step, arguments, arrays | {"seconds": 1e6})
    resumed = Stop()
    started = time.perf_counter()
    *_, seconds = train_block(POPULATION, path, resumed, resumed.advance)
    assert 1e6 < seconds <= 1e6 + time.perf_counter() - started


@pytest.mark.parametrize("seconds", [np.nan, -1.0, np.inf, "12 s", np.ones(2)])
def test_a_checkpoint_without_a_valid_training_time_is_refused(tmp_path, seconds):
    path, stop = tmp_path / "block.npz", Stop(after=137)
    assert train_block(POPULATION, path, stop, stop.advance) is None
    step, arguments, arrays = checkpoint.load(path)
    checkpoint.save(path, step, arguments, arrays | {"seconds": seconds})
    with pytest.raises(checkpoint.CheckpointError, match="holds no valid training time"):
        train_block(POPULATION, path, Stop(), Stop().advance)


def test_a_stop_during_the_last_step_finishes_the_block(whole, tmp_path):
    path, stop = tmp_path / "block.npz", Stop(STEPS)
    arrays, _, _ = train_block(POPULATION, path, stop, stop.advance)
    assert stop.signum is not None and not path.exists()
    assert all(np.array_equal(arrays[name], whole[0][name]) for name in whole[0])


def test_a_run_that_covers_one_mode_or_none_collapsed():
    # Four generators on the ring, made by hand: every sample at mode 0 (one mode); every
    # sample at the centre, 2 from each mode (all weights 0: none); mode 0 for z_0 <= 0 and
    # on the chord to mode 1 beyond, reaching it at z_0 = 1 (two); and one whose D is not
    # finite (diverged).
    base = replace(TINY.base, dataset="ring")
    spec = base.generator_spec()
    means = data.get_dataset("ring").means
    theta_G = np.zeros((4, spec.n_params))
    mlp.layer_views(spec, theta_G[0])[-1][1][:] = means[0]  # the output layer's bias
    (W1, _), (W2, _), (W3, b3) = mlp.layer_views(spec, theta_G[2])
    W1[0, 0], W2[0, 0], W3[0], b3[:] = 1.0, 1.0, means[1] - means[0], means[0]  # relu(z_0)
    theta_G[3] = theta_G[0]
    theta_D = np.zeros((4, base.discriminator_spec().n_params))
    theta_D[3, 0] = np.nan
    runs = [("by hand", replace(base, seed=seed)) for seed in range(4)]
    arrays = {"theta_G": theta_G.astype(np.float32), "theta_D": theta_D.astype(np.float32)}
    last = {"loss_D": np.full(4, 0.7), "loss_G": np.full(4, 0.7)}
    rows = evaluate_block(runs, arrays, last, 0.0)
    assert [row["modes_captured"] for row in rows] == [1, 0, 2, ""]  # as runs.csv reads back
    assert [row["diverged"] for row in rows] == [False, False, False, True]
    assert [row["collapsed"] for row in rows] == [True, True, False, False]


def test_a_block_checkpointed_with_a_diverged_run_resumes(tmp_path):
    # A diverging run is a result of the sweep, and a block may be checkpointed after one
    # has diverged: the checkpoint is read, and the run ends diverged, its metrics empty.
    path, stop = tmp_path / "block.npz", Stop(after=137)
    assert train_block(POPULATION, path, stop, stop.advance) is None
    step, arguments, arrays = checkpoint.load(path)
    arrays["theta_G"][0] = np.nan
    checkpoint.save(path, step, arguments, arrays)
    stop = Stop()
    arrays, last, _ = train_block(POPULATION, path, stop, stop.advance)
    rows = evaluate_block(MEMBERS, arrays, last, 0.0)
    assert rows[0]["diverged"] and rows[0]["modes_captured"] == ""
    assert not any(row["diverged"] for row in rows[1:])
