"""Real images: the 8x8 handwritten digits, and the fixed classifier that scores generated ones.

The images are scikit-learn's copy of the UCI optical digits (1,797 images of 8x8 grey
levels 0..16, no download), scaled to [-1, 1] as level / 8 - 1 and flattened row by row to
64 values. They are split by index, with no randomness: image i is held out when
i % HELD_OUT_EVERY == 0 (599 images); the other 1,198 are the GAN's data and the
classifier's training set.

The classifier is an MLP 64 -> 64 -> 64 -> 10 (reference/mlp.py, ReLU), trained by
train_classifier with full-batch Adam (reference/optim.py) on softmax cross-entropy,
CLASSIFIER_STEPS steps from a fixed seed: stopped early, while its confidence still falls
on images unlike digits (noise, blends of two digits). Its parameters are committed as
digits_classifier.npz beside this file and checked on load (name, shape, dtype, SHA-256),
so that every run is scored by the same classifier whatever the machine's BLAS;
`python -m reference.digits` trains it again and says whether it is the committed one.

Shapes: images (N, 64) float64; labels (N,) int; probabilities (N, 10); features (N, 64),
the last hidden layer's activations. Contract: NumPy and float64; scikit-learn is read
only for the images, and only when the digits are used.
"""

import functools
import hashlib
import sys
from pathlib import Path

import numpy as np

from reference import mlp, optim

SIDE = 8  # an image is SIDE x SIDE
LEVELS = 16  # grey levels 0 .. LEVELS in the data
CLASSES = 10
HELD_OUT_EVERY = 3
CLASSIFIER_SPEC = mlp.MLPSpec((SIDE * SIDE, 64, 64, CLASSES), "relu")
CLASSIFIER_STEPS = 200
CLASSIFIER_LR = 1e-3
CLASSIFIER_SEED = 0
CLASSIFIER_FILE = Path(__file__).with_name("digits_classifier.npz")
# SHA-256 of the committed parameters' bytes (float64, little-endian)
CLASSIFIER_SHA256 = "79b157b6a7058b6292efa08da134f0ebfb91c9ceaccd9fb7ac075cc500e66190"


RESTORE = "restore it: git checkout -- reference/digits_classifier.npz"


class ClassifierError(ValueError):
    """The stored classifier is missing, damaged or another one; the message names the file."""


@functools.cache
def _all_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data / (LEVELS / 2) - 1.0, digits.target.astype(np.int64)


def images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 64), labels (N,)) of split 'train' (1,198) or 'held_out' (599), read-only."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split: expected 'train' or 'held_out', got {split!r}")
    x, labels = _all_images()
    held_out = np.arange(len(x)) % HELD_OUT_EVERY == 0
    chosen = held_out if split == "held_out" else ~held_out
    x_split, labels_split = x[chosen], labels[chosen]
    x_split.flags.writeable = labels_split.flags.writeable = False
    return x_split, labels_split


def class_weights() -> np.ndarray:
    """(10,) each class's share of the training digits: the "true weights" of the classes,
    as a mixture's weights are of its modes (118 to 122 images each, not exactly 1 / 10)."""
    _, labels = images("train")
    return np.bincount(labels, minlength=CLASSES) / len(labels)


def softmax(logits: np.ndarray) -> np.ndarray:
    """(N, C) -> (N, C) rows summing to 1, shifted by the row's maximum so exp never overflows."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def train_classifier() -> np.ndarray:
    """theta: (n_params,) the classifier trained on the training split, from CLASSIFIER_SEED."""
    x, labels = images("train")
    theta = mlp.init_params(CLASSIFIER_SPEC, np.random.Generator(np.random.Philox(CLASSIFIER_SEED)))
    adam = optim.adam_init(theta)
    one_hot = np.eye(CLASSES)[labels]
    for _ in range(CLASSIFIER_STEPS):
        logits, cache = mlp.forward(CLASSIFIER_SPEC, theta, x)
        # d(mean cross-entropy)/d logits
        dlogits = (softmax(logits) - one_hot) / len(x)
        dtheta, _ = mlp.backward(CLASSIFIER_SPEC, theta, cache, dlogits)
        optim.adam_step(theta, dtheta, adam, CLASSIFIER_LR, 0.9, 0.999)
    return theta


def checksum(theta: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(theta, dtype="<f8").tobytes()).hexdigest()


@functools.cache
def classifier() -> np.ndarray:
    """theta: (n_params,) the committed classifier; ClassifierError naming the file if it
    cannot be read or is not the classifier this code was written with."""
    try:
        with np.load(CLASSIFIER_FILE, allow_pickle=False) as stored:
            names, theta = list(stored.keys()), stored.get("theta")
    except OSError as error:
        raise ClassifierError(
            f"{CLASSIFIER_FILE} cannot be read ({error.strerror or error})"
        ) from None
    except Exception as error:  # whatever a damaged file makes np.load raise
        raise ClassifierError(f"{CLASSIFIER_FILE} is damaged ({type(error).__name__}); "
                              f"{RESTORE}") from None  # fmt: skip
    if names != ["theta"]:
        raise ClassifierError(f"{CLASSIFIER_FILE} holds {names}, not one array theta; {RESTORE}")
    expected = (CLASSIFIER_SPEC.n_params,)
    if theta.shape != expected or theta.dtype != np.float64:
        raise ClassifierError(f"{CLASSIFIER_FILE} holds {theta.dtype} {theta.shape}, "
                              f"not float64 {expected}; {RESTORE}")  # fmt: skip
    if checksum(theta) != CLASSIFIER_SHA256:
        raise ClassifierError(f"{CLASSIFIER_FILE} is not the committed classifier (another "
                              f"SHA-256); {RESTORE}")  # fmt: skip
    theta.flags.writeable = False
    return theta


def classify(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, 64) images -> the committed classifier's (probabilities (N, 10), features (N, 64))."""
    logits, cache = mlp.forward(CLASSIFIER_SPEC, classifier(), x)
    return softmax(logits), cache[f"h{CLASSIFIER_SPEC.n_layers - 1}"]


def accuracy(theta: np.ndarray) -> float:
    """The fraction of held-out images classifier theta labels correctly."""
    x, labels = images("held_out")
    logits, _ = mlp.forward(CLASSIFIER_SPEC, theta, x)
    return float(np.mean(logits.argmax(axis=1) == labels))


def main() -> None:
    """Train the classifier again, print its accuracy and checksum, and say whether it is
    the committed one, bit for bit (exit 1 if not: another machine's arithmetic may round
    differently; the committed file stays the one every run is scored with)."""
    theta = train_classifier()
    same = checksum(theta) == CLASSIFIER_SHA256
    print(
        f"held-out accuracy {accuracy(theta):.4f} ({len(images('held_out')[0])} images), "
        f"SHA-256 {checksum(theta)}: "
        + ("the committed classifier" if same else "not the committed classifier")
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
