"""The GAN losses on a population of logit vectors, fused.

The formulas of reference/loss.py (stable softplus form), with one pass per GAN doing
loss -> gradient -> mean. The discriminator's pass also draws its label noise (the
reference's noise.label_noise_targets: flips on the float64 Philox uniforms of the
LABEL_FLIP stream, so the same labels flip, then smoothing). Each element is evaluated in
float64 from its float32 logit and the per-GAN sum is accumulated in float64, so the only float32
rounding is the final store: the loss of a logit of 1e4 is as exact as the reference's.

Shapes: logit_real, logit_fake (P, B); losses (P,) float32.
"""

import math

import numpy as np
from numba import njit, prange

from fast import device
from fast.philox import stream_block, uniform_of
from reference.loss import GENERATOR_LOSSES
from reference.philox import Stream, SubstepRandom


@njit(inline="always", error_model="numpy")
def softplus_sigmoid(x):
    """(softplus(x), sigmoid(x)) in float64, overflow-free for any finite x."""
    e = math.exp(-abs(x))
    sig = 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)
    return max(x, 0.0) + math.log1p(e), sig


@njit(error_model="numpy")
def logistic_one(logit, target, dlogit, sign):
    """One GAN: logit, target (n,) -> dlogit (n,) = sign * gradient, returns sign * mean
    loss (sign = -1 gives the minimax generator loss)."""
    n, total = logit.shape[0], 0.0
    for i in range(n):
        x, t = np.float64(logit[i]), np.float64(target[i])
        sp, sig = softplus_sigmoid(x)
        total += sp - t * x
        dlogit[i] = np.float32(sign * (sig - t) / n)
    return sign * total / n


@njit(parallel=True, cache=True, error_model="numpy")
def _generator_loss_cpu(logit, target, sign):
    loss = np.empty(logit.shape[0], dtype=np.float32)
    dlogit = np.empty(logit.shape, dtype=np.float32)
    for p in prange(logit.shape[0]):
        loss[p] = np.float32(logistic_one(logit[p], target[p], dlogit[p], sign))
    return loss, dlogit


@njit(error_model="numpy")
def discriminator_loss_one(logit, dlogit, smoothing, flip, k0, k1, step, stream):
    """One GAN: logit (2B,), the real samples' then the fake ones' -> dlogit (2B,); returns
    (the mean loss, mean D(x) on the real half, on the fake half), all float64. Flips on the
    LABEL_FLIP uniforms, then one-sided smoothing."""
    n, batch, total = logit.shape[0], logit.shape[0] // 2, 0.0
    sig_real, sig_fake = 0.0, 0.0
    for block in range((n + 3) // 4):
        w = stream_block(k0, k1, block, step, stream)
        for j in range(min(4, n - 4 * block)):
            i = 4 * block + j
            hard = 1.0 if i < batch else 0.0
            if uniform_of(w[j]) < flip:
                hard = 1.0 - hard
            t, x = hard * smoothing, np.float64(logit[i])
            sp, sig = softplus_sigmoid(x)
            total += sp - t * x
            dlogit[i] = np.float32((sig - t) / n)
            if i < batch:
                sig_real += sig
            else:
                sig_fake += sig
    return total / n, sig_real / batch, sig_fake / batch


@njit(parallel=True, cache=True, error_model="numpy")
def _discriminator_loss_cpu(logit_real, logit_fake, smoothing, flip, key, step, stream):
    P, batch = logit_real.shape
    loss = np.empty(P, dtype=np.float32)
    dlogit = np.empty((P, 2 * batch), dtype=np.float32)
    for p in prange(P):
        logit = np.concatenate((logit_real[p], logit_fake[p]))
        loss[p] = np.float32(
            discriminator_loss_one(
                logit, dlogit[p], smoothing[p], flip[p], key[p, 0], key[p, 1], step, stream
            )[0]
        )
    return loss, dlogit[:, :batch], dlogit[:, batch:]


def discriminator_loss_with_label_noise(
    logit_real, logit_fake, real_target, label_flip, rng: SubstepRandom
):
    """The reference's noise.label_noise_targets and loss.discriminator_loss in one pass per
    GAN, GAN p flipping labels on the LABEL_FLIP stream of its own key rng.key[p].

    logit_real, logit_fake: (P, B) -> (loss: (P,), dlogit_real: (P, B), dlogit_fake: (P, B)).
    real_target, label_flip: one value for every GAN, or (P,) on the CPU.
    """
    key, step, stream = rng.key, rng.step, rng.stream(Stream.LABEL_FLIP)
    if device.on_gpu(logit_real):
        return _discriminator_loss_gpu(
            logit_real, logit_fake, real_target, label_flip, key, step, stream
        )
    return _discriminator_loss_cpu(
        np.asarray(logit_real, np.float32),
        np.asarray(logit_fake, np.float32),
        *(
            np.broadcast_to(np.asarray(value, np.float64), logit_real.shape[:1])
            for value in (real_target, label_flip)
        ),  # fmt: skip
        np.asarray(key, np.uint32),
        step,
        stream,
    )


def generator_sign(kind: str) -> float:
    """+1 for the non-saturating loss, loss(l, 1); -1 for minimax, -loss(l, 0). The target
    is 1 where the sign is +1 and 0 where it is -1."""
    if kind not in GENERATOR_LOSSES:
        raise ValueError(f"generator loss must be one of {GENERATOR_LOSSES}, got {kind!r}")
    return 1.0 if kind == "non-saturating" else -1.0


def generator_loss(logit_fake, kind: str):
    """logit_fake: (P, B) -> (loss: (P,), dloss/dlogit_fake: (P, B)); the kinds of
    reference.loss.generator_loss."""
    sign = generator_sign(kind)
    if device.on_gpu(logit_fake):
        return _generator_loss_gpu(logit_fake, kind)
    target = np.full(logit_fake.shape, 1.0 if sign > 0 else 0.0, dtype=np.float32)
    return _generator_loss_cpu(np.asarray(logit_fake, np.float32), target, np.float64(sign))


# The GPU path: the kernels of fast/loss.cu, one thread block per GAN.
_LOSS_THREADS = 256  # LOSS_THREADS of fast/loss.cu


def _generator_loss_gpu(logit_fake, kind):
    import cupy

    logit_fake = cupy.ascontiguousarray(logit_fake, dtype=np.float32)
    loss, dlogit = cupy.empty(logit_fake.shape[0], dtype=np.float32), cupy.empty_like(logit_fake)
    generator_loss_into_gpu(loss, dlogit, logit_fake, kind)
    return loss, dlogit


def generator_loss_into_gpu(loss, dlogit, logit_fake, kind: str) -> None:
    """generator_loss on the GPU into loss (P,) and dlogit (P, B); logit_fake (P, B)
    contiguous float32 on the device. non-saturating: loss(l, 1); minimax: -loss(l, 0)."""
    P, n = logit_fake.shape
    sign = generator_sign(kind)
    target = 1.0 if sign > 0 else 0.0
    device.cuda_kernel("loss.cu", "generator_loss_kernel")(
        (P,),
        (_LOSS_THREADS,),
        (logit_fake, np.int32(n), np.float64(target), np.float64(sign), loss, dlogit),
    )


def _discriminator_loss_gpu(logit_real, logit_fake, real_target, label_flip, key, step, stream):
    import cupy

    P, batch = logit_real.shape
    logits = cupy.concatenate([logit_real, logit_fake], axis=1).astype(np.float32, copy=False)
    dlogits = cupy.empty_like(logits)
    loss, d_real, d_fake = (cupy.empty(P, dtype=np.float32) for _ in range(3))
    discriminator_loss_into_gpu(
        loss,
        dlogits,
        d_real,
        d_fake,
        logits,
        real_target,
        label_flip,
        cupy.ascontiguousarray(key, dtype=np.uint32),
        step,
        stream,
    )
    return loss, dlogits[:, :batch], dlogits[:, batch:]


def discriminator_loss_into_gpu(
    loss, dlogits, d_real, d_fake, logits, real_target, label_flip, key, step, stream: int
) -> None:
    """discriminator_loss on the GPU, one fused kernel. logits, dlogits: (P, 2B) (or
    (P, 2B, 1)) contiguous, the real half first, as D reads and writes them; loss, and the
    mean D(x) on real and fake d_real, d_fake: (P,). step an int or a (1,) uint32 device
    array."""
    P, two_batch = logits.shape[:2]
    batch = two_batch // 2
    device.cuda_kernel("loss.cu", "discriminator_loss_kernel")(
        (P,),
        (_LOSS_THREADS,),
        (
            logits,
            logits[:, batch:],
            np.int64(two_batch),
            np.int32(batch),
            np.float64(real_target),
            np.float64(label_flip),
            key,
            device.step_word(step),
            np.uint32(stream),
            loss,
            dlogits,
            dlogits[:, batch:],
            d_real,
            d_fake,
        ),
    )
