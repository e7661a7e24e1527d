"""Gradient penalties on the discriminator, instance noise's analytic cousins, with their
exact parameter gradient written by hand: a backward pass through a backward pass.

Instance noise smooths what D can learn; a penalty asks for that smoothness directly, on
the input gradient g_i = d phi / d x at each sample x_i of D's batch (phi is D's logit):

    penalty = gamma / 2 * (1 / N) sum_i w_i ||g_i||^2        over the N = 2B samples

    r1    w = 1 on real samples, 0 on fake    (Mescheder, Geiger and Nowozin 2018)
    r2    w = 0 on real samples, 1 on fake
    roth  w = (1 - D)^2 on real, D^2 on fake, D = sigmoid(phi)
                                            (Roth, Lucchi, Nowozin and Hofmann 2017)

D's logistic loss (reference/loss.py) is the mean over the same N samples: half the
usual E_p[-log D] + E_q[-log(1 - D)]. The penalty, a mean over N, is then half the
usual gamma / 2 * E_p[...] (r1), so loss + penalty is half the published objective and
gamma is the papers' gamma. Near the Dirac-GAN's equilibrium r1 at gamma acts like
instance noise with sigma = sqrt(2 gamma), and roth like sigma = sqrt(gamma) (the
Jacobians agree there, not the fields elsewhere: reference/theory.py). D alone is
penalised: the generator's step does not change.

The derivation, for D's MLP (reference/mlp.py: h_0 = x, a_l = h_{l-1} W_l + b_l,
h_l = act(a_l) for l < L, phi = a_L; W_l (n_{l-1}, n_l), rows are samples):

1. The input gradient is a backward pass with dphi = 1, seen as a forward computation
   (the *tangent* pass). With s_l = act'(a_l) (N, n_l):

       u_L = 1                      (N, 1)       d phi / d a_L
       v_{l-1} = u_l W_l^T          (N, n_{l-1})  d phi / d h_{l-1},   l = L .. 1
       u_{l-1} = s_{l-1} * v_{l-1}  (N, n_{l-1})  d phi / d a_{l-1},   l = L .. 2
       g = v_0                      (N, dim)

2. For the leaky ReLU (and ReLU) act' is piecewise constant, so act'' = 0 almost
   everywhere: s_l does not move when theta moves (a kink is crossed with probability 0).
   That is the simplification: the tangent pass is *linear* in the weights, the biases
   do not appear in it, and nothing flows back into the forward pass. (For tanh, s_l
   would depend on a_l and a second term would run back through the forward pass; D does
   not use tanh, and `penalty` refuses it.)

3. The penalty's adjoint pass runs the tangent pass backwards. Seeded with
   gbar = d penalty / d g = gamma / N * w_i g_i (N, dim), call it vbar_0; then for
   l = 1 .. L, from v_{l-1} = u_l W_l^T:

       dW_l    += vbar_{l-1}^T u_l            (n_{l-1}, n_l)
       ubar_l   = vbar_{l-1} W_l              (N, n_l)         l < L
       vbar_l   = s_l * ubar_l                (N, n_l)         l < L

   and at l = L, u_L = 1, so dW_L += the column sums of vbar_{L-1}.

4. Roth's weights depend on phi, so the penalty also has a gradient through D's output:

       d penalty / d phi_i = gamma / (2N) ||g_i||^2 dw_i/dphi_i,
       dw/dphi = -2 D (1 - D)^2 (real: w = (1 - D)^2),  2 D^2 (1 - D) (fake: w = D^2)

   which joins the loss's d loss / d phi before D's ordinary backward: one backward pass
   then carries both, and `penalty`'s weight gradients are added to its. That is
   `penalised_backward`, D's whole backward for loss + penalty (reference/gan.py's).

Shapes: N = 2B rows, real samples first (reference/gan.py's batch). Contract: plain
NumPy, float64.
"""

import numpy as np

from reference import loss, mlp

PENALTIES = ("none", "r1", "r2", "roth")  # GANConfig.penalty's choices, by name
# Each one's code, its index in PENALTIES: what the fast path's kernels take (fast/penalty.py).
NONE, R1, R2, ROTH = range(len(PENALTIES))
# The activations whose act'' = 0, which step 2 of the derivation needs.
PIECEWISE_LINEAR = ("relu", "leaky_relu")


def check_activation(spec: mlp.MLPSpec) -> None:
    """Raise ValueError unless D's activation is piecewise linear (step 2)."""
    if spec.activation not in PIECEWISE_LINEAR:
        raise ValueError(f"the penalty's gradient assumes act'' = 0, not {spec.activation!r}")


def weights(kind: str, logit: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(w, dw / dlogit): (N,) each, the weight of each sample's ||g||^2; the first `batch`
    rows are the real samples."""
    if kind not in PENALTIES[1:]:
        raise ValueError(f"a penalty's weights need one of {PENALTIES[1:]}, got {kind!r}")
    real = np.arange(logit.shape[0]) < batch
    if kind == "r1":
        return real.astype(np.float64), np.zeros_like(logit)
    if kind == "r2":
        return (~real).astype(np.float64), np.zeros_like(logit)
    d, one_minus_d = loss.sigmoid(logit), loss.sigmoid(-logit)  # both exact for any logit
    w = np.where(real, one_minus_d**2, d**2)
    dw = np.where(real, -2.0 * d * one_minus_d**2, 2.0 * d**2 * one_minus_d)
    return w, dw


def tangents(spec: mlp.MLPSpec, theta: np.ndarray, cache: dict) -> tuple[list, np.ndarray]:
    """The tangent pass (step 1): ([u_1, ..., u_{L-1}], g: (N, dim)), u_l (N, n_l) the
    logit's gradient with respect to a_l, from mlp.forward's cache."""
    views = mlp.layer_views(spec, theta)
    u = np.ones((cache["h0"].shape[0], 1))  # u_L
    u_hidden = []  # u_{L-1}, ..., u_1 as they are formed
    for layer in range(spec.n_layers, 0, -1):
        v = u @ views[layer - 1][0].T  # v_{layer-1}
        if layer > 1:
            a = cache[f"a{layer - 1}"]
            u = mlp.activation_backward(spec.activation, a, cache[f"h{layer - 1}"], v)
            u_hidden.append(u)
    return u_hidden[::-1], v


def penalty(
    spec: mlp.MLPSpec, theta: np.ndarray, cache: dict, logit: np.ndarray, batch: int,
    kind: str, gamma: float,
) -> tuple[float, np.ndarray, np.ndarray]:  # fmt: skip
    """(value, dtheta: (n_params,), dlogit: (N,)) of the penalty of D (spec, theta) on the
    batch whose mlp.forward cache and logits (N,) are given. dtheta is the gradient through
    the input gradients (step 3); dlogit the gradient through Roth's weights (step 4), for
    the caller to add to the loss's before D's backward."""
    check_activation(spec)
    n_rows = logit.shape[0]
    w, dw = weights(kind, logit, batch)
    u_hidden, g = tangents(spec, theta, cache)
    g_squared = np.sum(g * g, axis=1)  # (N,)
    value = gamma / 2.0 * np.mean(w * g_squared)
    dlogit = gamma / (2.0 * n_rows) * g_squared * dw
    dtheta = np.zeros_like(theta)
    views, dviews = mlp.layer_views(spec, theta), mlp.layer_views(spec, dtheta)
    u = [*u_hidden, np.ones((n_rows, 1))]  # u_1 .. u_L
    vbar = gamma / n_rows * w[:, None] * g  # vbar_0 = d penalty / d g
    for layer in range(1, spec.n_layers + 1):
        dviews[layer - 1][0][...] = vbar.T @ u[layer - 1]
        if layer < spec.n_layers:
            ubar = vbar @ views[layer - 1][0]
            # s_l * ubar: s_l as the tangent pass applied it, read from a_l
            vbar = mlp.activation_backward(
                spec.activation, cache[f"a{layer}"], cache[f"h{layer}"], ubar
            )
    return float(value), dtheta, dlogit


def penalised_backward(
    spec: mlp.MLPSpec, theta: np.ndarray, cache: dict, logit: np.ndarray, loss: float,
    dlogits: np.ndarray, batch: int, kind: str, gamma: float,
) -> tuple[float, np.ndarray, np.ndarray, float | None]:  # fmt: skip
    """D's backward for its loss plus the penalty `kind`, given the loss and its gradient
    dlogits: (N, 1) on the batch whose mlp.forward cache and logits (N,) are given:
    (loss + penalty, dtheta: (n_params,) its gradient, dlogits: (N, 1) with Roth's term
    (step 4), the penalty's value). 'none' adds nothing, and its value is None."""
    if kind == "none":
        return loss, mlp.backward(spec, theta, cache, dlogits)[0], dlogits, None
    value, dtheta_penalty, dlogit_penalty = penalty(spec, theta, cache, logit, batch, kind, gamma)
    dlogits = dlogits + dlogit_penalty[:, None]  # one backward pass carries both
    dtheta, _ = mlp.backward(spec, theta, cache, dlogits)
    dtheta += dtheta_penalty  # and the gradient through the input gradients (step 3)
    return loss + value, dtheta, dlogits, value
