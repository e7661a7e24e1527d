"""The 8x8 digits: the split, the committed classifier and its checks on load, the digits
metrics on known answers, and both paths on digits (sampling, a step, run.py end to end)."""

import json
import shutil

import numpy as np
import pytest

import run
from fast import data as fast_data
from fast import gan as fast_gan
from fast import metrics as fast_metrics
from reference import data, digits, metrics, mlp, philox
from reference.config import GANConfig
from reference.philox import SubstepRandom
from tests.test_fast_gan import assert_step_matches, reference_states
from tests.test_run import OUTPUTS, TINY


@pytest.fixture
def held_out_halves():
    """The held-out digits, split into two halves of 300 and 299 by alternate index."""
    x, labels = digits.images("held_out")
    return (x[::2], labels[::2]), (x[1::2], labels[1::2])


def test_the_split_is_by_index_and_the_images_scaled_to_plus_minus_one():
    train, held_out = digits.images("train")[0], digits.images("held_out")[0]
    assert (len(train), len(held_out)) == (1198, 599)
    x, _ = digits._all_images()
    assert np.array_equal(held_out, x[::3])
    assert x.min() == -1.0 and x.max() == 1.0  # level 0 -> -1, level 16 -> 1
    # level / 8 - 1 on integer levels: every value is a multiple of 1/8, exactly
    assert np.array_equal(x * 8, np.round(x * 8))


def test_the_committed_classifier_is_accurate_on_held_out_digits():
    assert digits.accuracy(digits.classifier()) >= 0.95


def test_retraining_gives_the_committed_classifier():
    # another BLAS may sum in another order: n eps ~ 3e-13 relative in a gradient (n = 1198
    # images); 200 Adam steps keep that far below 1e-6 unless training is chaotic, which is
    # what this would catch; the held-out predictions must not move at all
    theta = digits.train_classifier()
    committed = digits.classifier()
    x, _ = digits.images("held_out")
    assert np.array_equal(
        mlp.forward(digits.CLASSIFIER_SPEC, theta, x)[0].argmax(axis=1),
        digits.classify(x)[0].argmax(axis=1),
    )
    assert np.max(np.abs(theta - committed)) <= 1e-6 * np.max(np.abs(committed))


@pytest.fixture
def classifier_copy(tmp_path, monkeypatch):
    """A copy of the committed classifier's file that the test may damage, loaded instead."""
    path = tmp_path / "digits_classifier.npz"
    shutil.copyfile(digits.CLASSIFIER_FILE, path)
    monkeypatch.setattr(digits, "CLASSIFIER_FILE", path)
    digits.classifier.cache_clear()
    yield path
    digits.classifier.cache_clear()


def damage(path, how: str) -> str:
    """Damage the classifier file at path; returns what the error must say."""
    theta = np.load(path)["theta"]
    if how == "missing":
        path.unlink()
        return "cannot be read"
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
        return "damaged"
    if how == "renamed":
        np.savez(path, weights=theta)
        return "not one array theta"
    if how == "reshaped":
        np.savez(path, theta=theta[:-1])
        return "not float64"
    if how == "float32":
        np.savez(path, theta=theta.astype(np.float32))
        return "not float64"
    theta[7] = np.nextafter(theta[7], np.inf)  # one parameter one ulp off
    np.savez(path, theta=theta)
    return "not the committed classifier"


@pytest.mark.parametrize("how", ["missing", "truncated", "renamed", "reshaped", "float32", "ulp"])
def test_a_damaged_classifier_file_is_one_line(classifier_copy, how):
    expected = damage(classifier_copy, how)
    with pytest.raises(digits.ClassifierError, match=expected) as error:
        digits.classifier()
    assert str(classifier_copy) in str(error.value) and "\n" not in str(error.value)


def test_run_refuses_digits_with_a_damaged_classifier_before_training(
    classifier_copy, tmp_path, capsys
):
    damage(classifier_copy, "ulp")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        run.main([*TINY, "--dataset", "digits", "--out", str(out)])
    assert exit_.value.code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("run.py: error: --dataset: digits:") and "SHA-256" in message
    assert not out.exists()


def test_real_held_out_digits_score_as_a_perfect_generator(held_out_halves):
    (x_a, labels_a), (x_b, _) = held_out_halves
    result = metrics.mode_metrics(data.get_dataset("digits"), x_a)
    assert result["modes_total"] == 10 and result["modes_captured"] == 10
    # the class histogram is the labels' (to the classifier's 2.5% of errors), near uniform
    assert result["reverse_kl"] < 0.02
    assert result["mean_confidence"] > 0.9
    _, features_a = digits.classify(x_a)
    _, features_b = digits.classify(x_b)
    distance = metrics.frechet_distance(features_a, features_b)
    # two samples of n = 300 of one distribution: their distance is at most |mu_a - mu_b|^2 +
    # |C_a^(1/2) - C_b^(1/2)|_F^2, of mean about 2 tr C / n and F tr C / n for F features
    n, features = features_a.shape
    assert 0.0 <= distance < (2 + features) / n * np.trace(np.cov(features_a, rowvar=False))


def test_a_generator_of_one_digit_scores_one_class(held_out_halves):
    (x_a, labels_a), (x_b, _) = held_out_halves
    one = np.repeat(x_a[labels_a == 3][:1], 500, axis=0)
    result = metrics.evaluate(data.get_dataset("digits"), x_a, one)
    assert result["modes_captured"] == 1
    assert result["mode_counts"][3] == 500
    # KL(delta_3 || the classes' shares w) = -log w_3: one log and one division, a few eps
    expected = -np.log(digits.class_weights()[3])
    assert abs(result["reverse_kl"] - expected) <= 4 * np.finfo(np.float64).eps * expected
    # far from the held-out digits: many times the distance between their two halves
    halves = metrics.frechet_distance(digits.classify(x_a)[1], digits.classify(x_b)[1])
    assert result["frechet_distance"] > 50 * halves


def with_moments(z: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """z: (n, F) -> samples whose sample mean and covariance are mean and cov, to rounding."""
    centred = z - z.mean(axis=0)
    whitened = centred @ np.linalg.inv(np.linalg.cholesky(np.cov(centred, rowvar=False))).T
    return mean + whitened @ np.linalg.cholesky(cov).T


def test_frechet_distance_of_covariances_that_do_not_commute():
    # C_x = diag(1, 4), C_y = [[2, 1], [1, 2]]: C_x^(1/2) C_y C_x^(1/2) = [[2, 2], [2, 8]], whose
    # root has trace sqrt(10 + 2 sqrt(12)) (for 2x2, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)));
    # tr(C_x^(1/2) C_y^(1/2)), the formula with the roots taken apart, is not it
    rng = np.random.default_rng(0)
    n = 400
    cov_x, cov_y = np.diag([1.0, 4.0]), np.array([[2.0, 1.0], [1.0, 2.0]])
    mean_x, mean_y = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    x = with_moments(rng.normal(size=(n, 2)), mean_x, cov_x)
    y = with_moments(rng.normal(size=(n, 2)), mean_y, cov_y)
    expected = 5.0 + 9.0 - 2.0 * np.sqrt(10.0 + 2.0 * np.sqrt(12.0))
    # np.cov sums n products (worst case n eps relative to the traces, 9 here); the whitening
    # and the 2x2 eigen-solves add a few eps more
    tolerance = 4 * n * np.finfo(np.float64).eps * 9.0
    assert abs(metrics.frechet_distance(x, y) - expected) <= tolerance
    assert abs(metrics.frechet_distance(x, x)) <= tolerance


def test_both_paths_draw_training_images_and_nothing_else():
    distribution = data.get_dataset("digits")
    rng = SubstepRandom(philox.key_from_seed(4), 2, 0)
    x = data.sample(distribution, rng, 300)
    train = digits.images("train")[0]
    # each sample is one training image, unchanged (stds 0)
    matches = (x[:, None, :] == train[None]).all(axis=2)
    assert matches.sum(axis=1).min() >= 1
    population = fast_gan.PopulationConfig.seeded(GANConfig(dataset="digits"), (4, 5), (0.0, 0.0))
    fast = fast_data.sample(distribution, SubstepRandom(population.keys(), 2, 0), 300)
    # the images are multiples of 1/8 in [-1, 1]: float32 holds them exactly
    assert np.array_equal(fast[0], x.astype(np.float32))


def test_a_step_on_digits_matches_the_reference(backend):
    base = GANConfig(dataset="digits", batch=64, hidden=32)
    population = fast_gan.PopulationConfig.seeded(base, seeds=(0, 3), sigma0s=(0.1, 0.0))
    state = fast_gan.init_state(population, backend)
    assert_step_matches(population, state, reference_states(population, state), 11)


def test_the_fast_metrics_of_digits_are_the_reference_metrics():
    base = GANConfig(dataset="digits", hidden=16)
    population = fast_gan.PopulationConfig.seeded(base, (0, 1), (0.0, 0.0))
    state = fast_gan.init_state(population, "cpu")
    theta_G = np.asarray(state.theta_G, dtype=np.float64)
    results, _, _ = fast_metrics.evaluate_generator(population, theta_G)
    for p, member in enumerate(population.members):
        expected, _, _ = metrics.evaluate_generator(member, theta_G[p])
        assert results[p].keys() == expected.keys()
        for name in expected:
            if name != "energy_distance":  # the fast kernel's own sum order (test_fast_metrics)
                assert results[p][name] == expected[name], name


def test_run_on_digits_end_to_end(tmp_path):
    out = tmp_path / "digits"
    assert run.main([*TINY, "--dataset", "digits", "--sigma0", "0.1", "--out", str(out)]) == 0
    assert {path.name for path in out.iterdir()} == OUTPUTS
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["modes_total"] == 10
    assert {"mean_confidence", "frechet_distance"} <= summary.keys()


def test_a_population_on_digits_writes_the_image_metrics(tmp_path):
    out = tmp_path / "digits"
    args = [*TINY, "--dataset", "digits", "--population", "2", "--sigma0", "0,0.1"]
    assert run.main([*args, "--out", str(out)]) == 0
    header = (out / "population.csv").read_text().splitlines()[0].split(",")
    assert header[-4:-2] == ["mean_confidence", "frechet_distance"]
