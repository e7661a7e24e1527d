"""fast/loss.py against reference/loss.py (and reference/noise.py's label noise, which the
discriminator's fused loss draws) on every backend, logits up to 1e4 included: the same
labels flip, and each loss and gradient is the float64 value of the float32 logits,
rounded once (the fused kernels evaluate and sum in float64)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fast import device
from fast import loss as fast_loss
from reference import loss, noise
from reference.philox import SubstepRandom, key_from_seed
from tests.strategies import (
    batch_sizes,
    label_flips,
    label_smoothings,
    logits,
    populations,
    seeds,
    steps,
)
from tests.tolerance import FLOAT32_EPS, FLOAT32_TINY, assert_close

# float64 arithmetic on float32 inputs, summed in float64 over <= 14 terms, then one
# float32 rounding: half an ulp, FLOAT32_EPS relative with room to spare
ONE_ROUNDING = FLOAT32_EPS


@given(seed_list=st.lists(seeds, min_size=1, max_size=3), step=steps, batch=batch_sizes,
       smoothing=label_smoothings, flip=label_flips, substep=st.integers(0, 2),
       data=st.data())  # fmt: skip
def test_discriminator_loss_flips_the_same_labels_and_rounds_once(
    backend, seed_list, step, batch, smoothing, flip, substep, data
):
    keys, P = np.stack([key_from_seed(s) for s in seed_list]), len(seed_list)
    logit_real = data.draw(logits((P, batch))).astype(np.float32)
    logit_fake = data.draw(logits((P, batch))).astype(np.float32)
    out = fast_loss.discriminator_loss_with_label_noise(
        *(device.to_device(a, backend) for a in (logit_real, logit_fake)),
        smoothing,
        flip,
        SubstepRandom(device.to_device(keys, backend), step, substep),
    )
    loss_D, dlogit_real, dlogit_fake = (device.to_host(v) for v in out)
    assert loss_D.shape == (P,)
    for p, key in enumerate(keys):
        targets = noise.label_noise_targets(
            batch, smoothing, flip, SubstepRandom(key, step, substep)
        )
        expected = loss.discriminator_loss(
            logit_real[p].astype(np.float64), logit_fake[p].astype(np.float64), *targets
        )
        # atol FLOAT32_TINY: gradients of saturated logits underflow to 0
        actual = {"loss_D": loss_D[p], "dlogit_real": dlogit_real[p], "dlogit_fake": dlogit_fake[p]}
        for (name, value), reference_value in zip(actual.items(), expected, strict=True):
            assert_close(name, value, reference_value, atol=FLOAT32_TINY, rtol=ONE_ROUNDING)


@pytest.mark.parametrize("kind", loss.GENERATOR_LOSSES)
@given(P=populations, batch=batch_sizes, data=st.data())
def test_generator_losses_round_once(backend, kind, P, batch, data):
    logit = data.draw(logits((P, batch))).astype(np.float32)
    loss_G, dlogit = (
        device.to_host(v) for v in fast_loss.generator_loss(device.to_device(logit, backend), kind)
    )
    for p in range(P):
        expected = loss.generator_loss(logit[p].astype(np.float64), kind)
        assert_close("loss_G", loss_G[p], expected[0], atol=FLOAT32_TINY, rtol=ONE_ROUNDING)
        assert_close("dlogit_G", dlogit[p], expected[1], atol=FLOAT32_TINY, rtol=ONE_ROUNDING)


def test_unknown_generator_loss_is_rejected(backend):
    logit = device.to_device(np.zeros((1, 2), np.float32), backend)
    with pytest.raises(ValueError, match="generator loss"):
        fast_loss.generator_loss(logit, "wasserstein")
