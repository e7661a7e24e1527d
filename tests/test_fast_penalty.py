"""fast/penalty.py against reference/penalty.py, GAN by GAN: the value, the parameter
gradient through the input gradients and Roth's term on the logits, for a population whose
GANs have different penalties and weights (0: none, all zeros), with the reference on the
same float32 parameters and inputs. Tolerances: tests/tolerance.py::float32_atol with the
penalty's terms (penalty_terms) as the scale where a sum cancels; the tangent pass and its
adjoint chain 2 L GEMMs over at most max(2B, H) terms."""

from types import SimpleNamespace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from fast import mlp as fast_mlp
from fast import penalty as fast_penalty
from reference import mlp, penalty
from tests.strategies import rng_from
from tests.tolerance import assert_close, float32_atol, penalty_terms


@given(
    kinds=st.lists(st.sampled_from(penalty.PENALTIES), min_size=1, max_size=4),
    gamma=st.floats(1e-3, 10.0),
    batch=st.sampled_from((1, 3, 37)),
    hidden=st.integers(1, 24),
    dim=st.sampled_from((2, 3)),
    logit_scale=st.sampled_from((1.0, 30.0)),  # Roth's weights saturate at large logits
    data=st.data(),
)
def test_population_penalty_matches_the_reference(kinds, gamma, batch, hidden, dim,
                                                  logit_scale, data):  # fmt: skip
    spec = mlp.MLPSpec((dim, hidden, hidden, 1), "leaky_relu")
    rng = rng_from(data.draw)
    P = len(kinds)
    theta = np.stack([mlp.init_params(spec, rng) for _ in range(P)])
    theta[:, -(hidden + 1) :] *= logit_scale
    theta = theta.astype(np.float32)
    x = rng.normal(size=(P, 2 * batch, dim)).astype(np.float32)
    codes = fast_penalty.codes([SimpleNamespace(penalty=kind) for kind in kinds])
    gammas = np.float32(gamma) * np.arange(1, P + 1, dtype=np.float32)
    logit, cache = fast_mlp.forward(spec, theta, x)
    value, dtheta, dlogit = fast_penalty.penalty(spec, theta, cache, logit[:, :, 0], batch,
                                                 codes, gammas)  # fmt: skip
    n_terms, depth = max(2 * batch, hidden), 2 * spec.n_layers
    for p, kind in enumerate(kinds):
        if kind == "none":
            assert value[p] == 0 and not dtheta[p].any() and not dlogit[p].any()
            continue
        theta_p, x_p = theta[p].astype(np.float64), x[p].astype(np.float64)
        logit_p, cache_p = mlp.forward(spec, theta_p, x_p)
        expected = penalty.penalty(spec, theta_p, cache_p, logit_p[:, 0], batch, kind,
                                   float(gammas[p]))  # fmt: skip
        terms = penalty_terms(spec, theta_p, x_p, logit_p[:, 0], batch, kind, float(gammas[p]))
        assert_close(f"GAN {p} value", value[p], expected[0],
                     float32_atol(expected[0], n_terms, depth, terms["penalty"]), 0.0)  # fmt: skip
        assert_close(f"GAN {p} dlogit", dlogit[p], expected[2],
                     float32_atol(expected[2], n_terms, depth, terms["dlogit"]), 0.0)  # fmt: skip
        actual = mlp.named_parameters(spec, dtheta[p].astype(np.float64), "d")
        for name, reference in mlp.named_parameters(spec, expected[1], "d").items():
            if name.startswith("db"):  # act'' = 0: the biases get no penalty gradient
                assert not actual[name].any() and not reference.any()
                continue
            assert_close(f"GAN {p} {name}", actual[name], reference,
                         float32_atol(reference, n_terms, depth, terms[name]), 0.0)  # fmt: skip
