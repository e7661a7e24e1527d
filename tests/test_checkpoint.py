"""cli/checkpoint.py, and the promise it exists for: a run stopped at step k, saved,
loaded and continued from k is the uninterrupted run, bit for bit, on the reference and on
the fast CPU path, for one GAN and for a population. Also: writes are atomic, and what is
missing, unreadable, of another format or of other networks is refused with a reason."""

import itertools
import json

import numpy as np
import pytest

from cli import checkpoint, files
from cli.checkpoint import CheckpointError
from fast import gan as fast_gan
from reference import gan
from reference.config import GANConfig

CONFIG = GANConfig(steps=9, batch=16, hidden=8, latent=2, sigma0=0.2, anneal="linear",
                       anneal_steps=7, label_flip=0.1, d_steps=2)  # fmt: skip
ARGUMENTS = {"sigma0": [0.2], "steps": 9, "d_steps": 2}


def records_equal(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
        for x, y in zip(a, b, strict=True)
    )


def arrays_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("k", [0, 1, 5, 9])
def test_reference_run_resumed_at_k_is_the_uninterrupted_run(tmp_path, k):
    whole = gan.init_state(CONFIG)
    expected = list(gan.train(CONFIG, whole))
    # train runs a step only when its next record is asked for: k records, k steps
    stopped = gan.init_state(CONFIG)
    before = list(itertools.islice(gan.train(CONFIG, stopped), k))
    checkpoint.save(tmp_path / "checkpoint.npz", k, ARGUMENTS, checkpoint.reference_arrays(stopped))
    step, arguments, arrays = checkpoint.load(tmp_path / "checkpoint.npz")
    assert (step, arguments) == (k, ARGUMENTS)
    resumed = checkpoint.reference_state(CONFIG, arrays)
    after = list(gan.train(CONFIG, resumed, step))
    assert records_equal(before + after, expected)
    assert arrays_equal(checkpoint.reference_arrays(resumed), checkpoint.reference_arrays(whole))


@pytest.mark.parametrize("k", [1, 4])
def test_fast_population_resumed_at_k_is_the_uninterrupted_run(tmp_path, k):
    population = fast_gan.PopulationConfig.seeded(CONFIG, seeds=(3, 4), sigma0s=(0.0, 0.3))
    whole = fast_gan.init_state(population, "cpu")
    expected = list(fast_gan.train(population, whole))
    stopped = fast_gan.init_state(population, "cpu")
    before = list(itertools.islice(fast_gan.train(population, stopped), k))
    checkpoint.save(
        tmp_path / "checkpoint.npz", k, ARGUMENTS, checkpoint.population_arrays(stopped)
    )
    step, _, arrays = checkpoint.load(tmp_path / "checkpoint.npz")
    assert arrays["theta_G"].dtype == np.float32  # stored as computed, not rounded again
    resumed = checkpoint.population_state(population, arrays, "cpu")
    after = list(fast_gan.train(population, resumed, step))
    assert records_equal(before + after, expected)
    assert arrays_equal(checkpoint.population_arrays(resumed), checkpoint.population_arrays(whole))


def test_a_write_that_fails_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("previous")

    def half_then_fail(temporary):
        temporary.write_text("half")
        raise KeyboardInterrupt  # as a second Ctrl-C would, in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(path, half_then_fail)
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_missing_unreadable_foreign_and_incomplete_checkpoints_are_refused(tmp_path):
    path = tmp_path / "checkpoint.npz"
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(path)
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        checkpoint.load(path)
    arrays = checkpoint.reference_arrays(gan.init_state(CONFIG))
    checkpoint.save(path, 3, ARGUMENTS, arrays)
    with np.load(path) as content:
        stored = dict(content)
    np.savez(path, **stored | {"format": checkpoint.CHECKPOINT_FORMAT + 1})
    with pytest.raises(CheckpointError, match="format 2; this version reads format 1"):
        checkpoint.load(path)
    np.savez(path, **{k: v for k, v in stored.items() if k != "m_D"})
    with pytest.raises(CheckpointError, match="lacks m_D"):
        checkpoint.load(path)


def test_a_checkpoint_of_other_networks_is_refused():
    arrays = checkpoint.reference_arrays(gan.init_state(CONFIG))
    with pytest.raises(CheckpointError, match="theta_G is"):
        checkpoint.reference_state(GANConfig(**{**vars(CONFIG), "hidden": 9}), arrays)
    population = fast_gan.PopulationConfig.seeded(CONFIG, seeds=(1, 2), sigma0s=(0.1, 0.1))
    with pytest.raises(CheckpointError, match=r"\(2, "):
        checkpoint.population_state(population, arrays, "cpu")  # one GAN's arrays for two


def test_arguments_round_trip_as_json(tmp_path):
    arguments = {"sigma0": [0.0, 0.1], "seed": 2**64 - 1, "out": None, "d_steps": 2}
    checkpoint.save(
        tmp_path / "c.npz", 0, arguments, checkpoint.reference_arrays(gan.init_state(CONFIG))
    )
    _, loaded, _ = checkpoint.load(tmp_path / "c.npz")
    assert loaded == json.loads(json.dumps(arguments))


def test_upgrade_reads_aliases_under_their_names_and_fills_what_is_lacking():
    stored = {"noise": [0.1], "label_smoothing": 0.9, "d_steps": 2, "gamma": [0.5]}
    defaults = {"penalty": "none", "gamma": [0.0]}
    assert checkpoint.upgrade(stored, defaults) == {
        "sigma0": [0.1], "real_target": 0.9, "d_steps": 2, "penalty": "none", "gamma": [0.5]
    }  # fmt: skip
