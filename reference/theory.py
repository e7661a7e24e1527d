"""The analytic side of the note: noisy densities, the optimal discriminator, the divergence
the discriminator's loss estimates, and the Dirac-GAN.

Distributions are the `reference.data.Mixture` descriptions: finite mixtures of axis-aligned
Gaussians, a std of 0 making a component a point mass. Instance noise x~ = x + sigma * eps,
eps ~ N(0, I), turns a mixture p into p_sigma = p * N(0, sigma^2 I), again a mixture, with
every std replaced by sqrt(std^2 + sigma^2). A `reference.data.Circle` has no density, but
for sigma > 0 its p_sigma is again (to float64 rounding) a mixture: see `noisy_circle`.

sigma = 0 and point masses. A density is only defined where every std is positive, so
`log_density` and everything built on it require that (any sigma > 0 guarantees it). The
sigma -> 0 limit for mixtures of point masses is given separately by `information_atoms`
(and `expected_loss` at sigma = 0), which work from the atoms' weights directly;
`information_quadrature` tends to it as sigma -> 0 (a property the tests check).

The divergence. A fair coin y picks x ~ p (y = 1, 'real') or x ~ q (y = 0, 'fake'); the
label the discriminator is trained on is y~, y flipped with probability flip (label_flip).
With D(x) = p(x) / (p(x) + q(x)), m = (p + q) / 2 and h the binary entropy in nats,

    Pr(y~ = 1 | x) = pi(x) = flip + (1 - 2 flip) D(x)
    I(y~; x)       = entropy(y~) - entropy(y~ | x) = log 2 - E_{x ~ m}[ h(pi(x)) ]

(y~ is still a fair coin, so entropy(y~) = log 2). With flip = 0 this is I(y; x) =
JS[p || q]. The minimum over discriminators of the reference's loss (reference/loss.py:
logistic regression against the flipped labels, mean over real and fake alike) is
E_m[h(pi)], reached at the logit of pi, so

    Bayes-optimal loss = log 2 - I(y~; x),   and with flip = 0:  log 2 - JS[p || q].

Applied to p_sigma and q_sigma this is I(y~; x~), and JS[p_sigma || q_sigma] at flip = 0. For
disjoint supports D is 0 or 1 everywhere, so I(y~; x) = log 2 - h(flip) whatever the supports'
positions: below log 2 with label noise, but still locally constant.

The Dirac-GAN (Mescheder, Geiger and Nowozin 2018, sec. 2): data delta_0, generator
delta_theta, discriminator logit psi * x, and their game value

    L(theta, psi) = E[f(psi x~_fake)] + E[f(-psi x~_real)],   f(t) = -log(1 + exp(-t)),

with x~_fake = theta + sigma eps, x~_real = sigma eps (no noise: sigma = 0). It is -2 times
the loss of reference/loss.py (a mean over real and fake) with the logit -psi x read as
'real' (flipping psi's sign mirrors the field and changes no eigenvalue). The generator
descends L, the discriminator ascends it: v(theta, psi) = (-dL/dtheta, dL/dpsi). The noise
expectations are computed by Gauss-Hermite quadrature, not sampled (its accuracy: see
HERMITE_NODES). At the equilibrium (0, 0), with f'(0) = 1/2 and f''(0) = -1/4,

    J = [[0, -f'(0)], [f'(0), 2 f''(0) sigma^2]]
    eigenvalues = f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2)

(the psi-psi entry: d^2/dpsi^2 of E[f(psi x~)] at psi = 0 is f''(0) E[x~^2] = f''(0) sigma^2,
once for the fake and once for the real term). Without noise they are +-i/2: a rotation.

The Dirac-GAN with a gradient penalty on the discriminator (R1 and R2: Mescheder et al. 2018,
secs. 3 and 4.1; Omega: Roth, Lucchi, Nowozin and Hofmann 2017). reference/penalty.py adds
to the mean loss (gamma/2) * mean over the 2B samples of w ||grad_x phi||^2, phi the 'real'
logit; times -2, the discriminator ascends L - Omega with, in L's scale (the literature's),

    Omega(theta, psi) = (gamma/2) (E[w_real ||dphi/dx||^2] + E[w_fake ||dphi/dx||^2]),

the expectations over the noisy samples. Here phi(x) = -psi x, so ||dphi/dx||^2 = psi^2 at
every x. The generator's update is unchanged: v_theta as above, v_psi - dOmega/dpsi.
  R1 (w = 1 on real, 0 on fake), R2 (0 on real, 1 on fake): Omega = (gamma/2) psi^2 whatever
  theta and sigma, so v_psi gains -gamma psi; the two are the same field here.
  Roth (w = (1 - D)^2 on real, D^2 on fake, D = sigmoid(phi)): with f'(t) = sigmoid(-t),
  a = 1 - D(x~_real) = f'(-psi x~_real) and b = D(x~_fake) = f'(psi x~_fake), so
  Omega = (gamma/2) psi^2 E[a^2 + b^2]; da/dpsi = a (1 - a) x~_real, db/dpsi = -b (1 - b) x~_fake,
  and the weights are differentiated too (as Roth et al.'s code does):

    dOmega/dpsi = gamma psi E[a^2 + b^2] + gamma psi^2 E[a^2 (1 - a) x~_real - b^2 (1 - b) x~_fake].

At (0, 0) every term of dOmega/dpsi carries psi, so J_psi_theta is unchanged, and
d^2Omega/dpsi^2 = gamma mass with mass = E[w_real + w_fake] at psi = 0, where D = 1/2 at every
x: mass = 1 for R1 and R2, 2 f'(0)^2 = 1/2 for Roth. Penalty and noise add on the diagonal:

    J = [[0, -f'(0)], [f'(0), 2 f''(0) sigma^2 - mass gamma]]
    eigenvalues = c +- sqrt(c^2 - f'(0)^2),   c = f''(0) sigma^2 - mass gamma / 2

R1 or R2 alone: -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2), the eigenvalues of noise at
sigma^2 = 2 gamma (sigma = sqrt(2 gamma)); Roth alone: -gamma/4 +- sqrt(gamma^2/16 - f'(0)^2),
those of noise at sigma = sqrt(gamma), Roth et al.'s gamma = sigma^2. Only the Jacobians at
(0, 0) agree: away from it the fields differ.

Instance noise as a gradient penalty (Roth et al. 2017, sec. 3), for the per-sample logistic
loss l(phi) = softplus(phi) - target phi of reference/loss.py (target 1 real, 0 fake), so
l' = D - target and l'' = D (1 - D). Taylor-expanding l(phi(x + sigma eps)) in sigma, the odd
moments of eps vanish and E[eps eps^T] = I, so for every smooth phi and at every x

    E_eps[l(phi(x + sigma eps))] = l(phi(x)) + sigma^2/2 (l'(phi) lap phi + l''(phi) |grad phi|^2)
                                   + O(sigma^4)

(`noise_second_order_term`). Pointwise the Laplacian term stays. It goes only in expectation:
summed over real (density p) and fake (q) samples its integrand is (q D - p (1 - D)) lap phi,
which is 0 at the optimal discriminator phi* = log p - log q (q D = p (1 - D) = pq / (p + q));
there also p D(1 - D) + q D(1 - D) = pq / (p + q) = p (1 - D)^2 + q D^2, so the sigma^2/2
coefficient of E_p[l_real] + E_q[l_fake] is Roth's

    Omega(phi) = E_p[(1 - D)^2 |grad phi|^2] + E_q[D^2 |grad phi|^2].

For any other phi, integrating the Laplacian term by parts (boundary terms vanishing) gives the
coefficient int ((1 - D) grad p - D grad q) . grad phi dx, which is Omega at phi* only
(grad log p - grad log q = grad phi*). So Omega is the effect of the noise at the optimal
discriminator: a surrogate elsewhere, and never a statement about one sample. Matching
Omega's sigma^2/2 against the penalty's gamma/2 gives gamma = sigma^2, as the Dirac-GAN's
Jacobian above does.

Contract: plain NumPy, float64. Points are (N, dim); the Dirac-GAN functions broadcast over
arrays of theta, psi, sigma and gamma, so figures can evaluate them on grids.
"""

import numpy as np

from reference import data, loss, noise
from reference.penalty import PENALTIES
from reference.philox import Stream, SubstepRandom, key_from_seed

LOG_2 = float(np.log(2.0))


def noisy(distribution: data.Distribution, sigma: float) -> data.Mixture:
    """p_sigma = p * N(0, sigma^2 I). A mixture keeps its means and weights, with stds
    sqrt(std^2 + sigma^2); a circle (sigma > 0) becomes the mixture of `noisy_circle`."""
    if isinstance(distribution, data.Circle):
        return noisy_circle(distribution, sigma)
    stds = np.sqrt(distribution.stds**2 + sigma**2)
    return data.Mixture(distribution.means, stds, distribution.weights)


# Points noisy_circle adds to POINTS_PER_STD per sigma of arc: the aliasing error needs
# n >= sqrt(2 u log 1e17) + ~8 at every u (n ~ 50 at u = 30, 16 near u = 0), u as in
# noisy_circle's docstring.
CIRCLE_EXTRA_POINTS = 16


def noisy_circle(circle: data.Circle, sigma: float) -> data.Mixture:
    """The uniform circle of radius R blurred by N(0, sigma^2 I), as an even mixture of n
    Gaussians of std sigma on n evenly spaced points of the circle: the trapezoid rule for
    the average over the angle of N(x; R (cos angle, sin angle), sigma^2 I).

    The exact density at |x| = r is exp(-(r - R)^2 / 2 sigma^2) I_0(u) e^-u / (2 pi sigma^2),
    u = r R / sigma^2 (a Rice density over the plane). The integrand is periodic and entire
    in the angle, so the rule errs only by aliasing, by 2 I_n(u) / I_0(u) relative; that falls
    like exp(-n^2 / 2u) while n < u, and faster beyond. With POINTS_PER_STD points per sigma of
    arc plus CIRCLE_EXTRA_POINTS, n = 16 pi R / sigma + 16, it stays below 1e-18 out to
    r = 30 R for every R / sigma (tests/test_theory.py checks the density against the
    Bessel-function form)."""
    if sigma <= 0.0:
        raise ValueError("a circle has no density: add instance noise (sigma > 0)")
    n = int(np.ceil(POINTS_PER_STD * 2.0 * np.pi * circle.radius / sigma)) + CIRCLE_EXTRA_POINTS
    angle = 2.0 * np.pi * np.arange(n) / n
    return data.mixture(circle.radius * np.stack([np.cos(angle), np.sin(angle)], axis=1), sigma)


def shifted(distribution: data.Mixture, offset) -> data.Mixture:
    """The distribution moved by offset: (dim,) or a scalar (every axis)."""
    return data.Mixture(distribution.means + offset, distribution.stds, distribution.weights)


def _log_terms(distribution: data.Mixture, x: np.ndarray) -> np.ndarray:
    """x: (N, dim) -> (N, K): log weights[k] + log N(x; means[k], diag(stds[k]^2))."""
    if np.any(distribution.stds <= 0.0):
        raise ValueError("log_density needs every std > 0: add instance noise (sigma > 0)")
    standardised = (x[:, None, :] - distribution.means[None]) / distribution.stds[None]
    log_normaliser = np.sum(np.log(np.sqrt(2.0 * np.pi) * distribution.stds), axis=1)  # (K,)
    squared_distance = np.sum(standardised * standardised, axis=2)  # (N, K)
    return -0.5 * squared_distance - log_normaliser + np.log(distribution.weights)


def log_density(distribution: data.Mixture, x: np.ndarray) -> np.ndarray:
    """x: (N, dim) -> log density (N,), by log-sum-exp over the K components, so that points
    many stds from every component get a finite, accurate value rather than log 0."""
    terms = _log_terms(distribution, x)
    top = np.max(terms, axis=1, keepdims=True)
    return top[:, 0] + np.log(np.sum(np.exp(terms - top), axis=1))


def log_density_gradient(distribution: data.Mixture, x: np.ndarray) -> np.ndarray:
    """x: (N, dim) -> d log density / dx: (N, dim) = sum_k r_k(x) (means[k] - x) / stds[k]^2,
    with r_k the components' responsibilities (a softmax of the log terms: never 0 / 0)."""
    terms = _log_terms(distribution, x)
    responsibility = np.exp(terms - log_density(distribution, x)[:, None])  # (N, K)
    pull = (distribution.means[None] - x[:, None, :]) / distribution.stds[None] ** 2  # (N, K, dim)
    return np.sum(responsibility[:, :, None] * pull, axis=1)


def noisy_log_densities(
    p: data.Mixture, q: data.Mixture, sigma: float, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """x: (N, dim) -> (log p_sigma(x), log q_sigma(x)): (N,) each."""
    return log_density(noisy(p, sigma), x), log_density(noisy(q, sigma), x)


def optimal_logit(p: data.Mixture, q: data.Mixture, sigma: float, x: np.ndarray) -> np.ndarray:
    """x: (N, dim) -> (N,): log p_sigma(x) - log q_sigma(x), the Bayes-optimal discriminator's
    logit, finite everywhere for sigma > 0."""
    log_p, log_q = noisy_log_densities(p, q, sigma, x)
    return log_p - log_q


def optimal_logit_gradient(
    p: data.Mixture, q: data.Mixture, sigma: float, x: np.ndarray
) -> np.ndarray:
    """x: (N, dim) -> (N, dim): d(log p_sigma - log q_sigma)/dx, the direction in which the
    optimal discriminator pushes a generated sample at x (the generator ascends the logit)."""
    return log_density_gradient(noisy(p, sigma), x) - log_density_gradient(noisy(q, sigma), x)


def optimal_discriminator(
    p: data.Mixture, q: data.Mixture, sigma: float, x: np.ndarray
) -> np.ndarray:
    """x: (N, dim) -> D*_sigma(x) = p_sigma / (p_sigma + q_sigma): (N,)."""
    return loss.sigmoid(optimal_logit(p, q, sigma, x))


def _flipped_entropy(log_d: np.ndarray, log_1md: np.ndarray, label_flip: float) -> np.ndarray:
    """h(pi) for pi = flip + (1 - 2 flip) D, flip = label_flip, from log D and log(1 - D)
    (either may be -inf)."""
    # pi = (1 - flip) D + flip (1 - D), summed in logs so that D = 0 or 1 stays exact.
    with np.errstate(divide="ignore"):
        log_flip, log_keep = np.log(label_flip), np.log(1.0 - label_flip)
    log_pi = np.logaddexp(log_keep + log_d, log_flip + log_1md)
    log_1mpi = np.logaddexp(log_flip + log_d, log_keep + log_1md)
    # 0 log 0 = 0: a certain label carries no entropy (np.where evaluates 0 * -inf first).
    with np.errstate(invalid="ignore"):
        return -sum(
            np.where(np.isneginf(log_a), 0.0, np.exp(log_a) * log_a) for log_a in (log_pi, log_1mpi)
        )


def _posterior_entropy(
    p: data.Mixture, q: data.Mixture, sigma: float, label_flip: float, x: np.ndarray
) -> np.ndarray:
    """x: (N, dim) -> h(Pr(y~ = 1 | x~ = x)): (N,)."""
    log_p, log_q = noisy_log_densities(p, q, sigma, x)
    log_total = np.logaddexp(log_p, log_q)
    return _flipped_entropy(log_p - log_total, log_q - log_total, label_flip)


# The trapezoid rule on a smooth integrand that varies on the scale s converges like
# exp(-2 pi^2 (s / spacing)^2); 8 points per narrowest std puts that far below float64
# rounding.
POINTS_PER_STD = 8
# Beyond 12 stds a Gaussian's mass is below 1e-32: the grid may stop there.
TAIL_STDS = 12.0


def quadrature_grid(p: data.Mixture, q: data.Mixture, sigma: float) -> tuple[np.ndarray, float]:
    """1-D: (x: (N, 1), spacing) of an even grid covering every component of p_sigma and
    q_sigma to TAIL_STDS stds, with POINTS_PER_STD points per narrowest noisy std. A sum
    spacing * sum(g(x) * density(x)) then integrates g against either density."""
    if p.dim != 1 or q.dim != 1:
        raise ValueError("quadrature is 1-D only; use information_monte_carlo in 2-D")
    means = np.concatenate([p.means[:, 0], q.means[:, 0]])
    stds = np.sqrt(np.concatenate([p.stds[:, 0], q.stds[:, 0]]) ** 2 + sigma**2)
    if np.min(stds) <= 0.0:
        raise ValueError("quadrature needs every noisy std > 0: use sigma > 0")
    lo, hi = np.min(means - TAIL_STDS * stds), np.max(means + TAIL_STDS * stds)
    spacing = float(np.min(stds)) / POINTS_PER_STD
    return np.arange(lo, hi + spacing, spacing)[:, None], spacing


def mixture_density(p: data.Mixture, q: data.Mixture, sigma: float, x: np.ndarray) -> np.ndarray:
    """x: (N, dim) -> m_sigma(x) = (p_sigma(x) + q_sigma(x)) / 2: (N,)."""
    log_p, log_q = noisy_log_densities(p, q, sigma, x)
    return np.exp(np.logaddexp(log_p, log_q) - LOG_2)


def information_quadrature(
    p: data.Mixture, q: data.Mixture, sigma: float, label_flip: float = 0.0
) -> float:
    """1-D, sigma > 0: I(y~; x~) = log 2 - E_m[h(pi)] by quadrature on `quadrature_grid`;
    with label_flip = 0 it is JS[p_sigma || q_sigma]."""
    x, spacing = quadrature_grid(p, q, sigma)
    entropy = _posterior_entropy(p, q, sigma, label_flip, x)
    return LOG_2 - spacing * float(np.sum(mixture_density(p, q, sigma, x) * entropy))


def expected_loss(
    p: data.Mixture, q: data.Mixture, sigma: float, logit_fn, label_flip: float = 0.0
) -> float:
    """The population value E_m[softplus(logit) - pi logit] of the reference's discriminator
    loss (reference/loss.py, labels flipped at rate label_flip) for the discriminator whose
    logit is logit_fn: (N, dim) -> (N,). By quadrature in 1-D for sigma > 0; for point masses
    at sigma = 0 a sum over the atoms. Its minimum, reached where logit = log(pi / (1 - pi)),
    is log 2 minus information_quadrature (or information_atoms)."""
    if sigma == 0.0:
        x, mass_p, mass_q = _merged_atoms(p, q)
        m, d = 0.5 * (mass_p + mass_q), mass_p / (mass_p + mass_q)
        weight = 1.0
    else:
        x, weight = quadrature_grid(p, q, sigma)
        m, d = mixture_density(p, q, sigma, x), optimal_discriminator(p, q, sigma, x)
    pi = (1.0 - label_flip) * d + label_flip * (1.0 - d)
    logit = logit_fn(x)
    return weight * float(np.sum(m * (loss.softplus(logit) - pi * logit)))


def sample_noisy(
    distribution: data.Mixture, sigma: float, rng: SubstepRandom, kind: Stream, n: int
) -> np.ndarray:
    """(n, dim) samples of distribution_sigma the way the GAN makes them: a batch from
    reference.data.sample, plus instance noise from the substep's `kind` stream."""
    return noise.add_instance_noise(data.sample(distribution, rng, n), sigma, rng, kind)


def information_monte_carlo(
    p: data.Mixture,
    q: data.Mixture,
    sigma: float,
    seed: int,
    n: int,
    label_flip: float = 0.0,
) -> tuple[float, float]:
    """Any dimension, sigma > 0: (estimate, standard error) of I(y~; x~) = log 2 - E_m[h(pi)],
    from n samples of p_sigma and n of q_sigma (m is their even mix, so the two halves are
    averaged). h lies in [0, log 2], so the standard error is at most log 2 / (2 sqrt(n))."""
    key = key_from_seed(seed)
    x_p = sample_noisy(p, sigma, SubstepRandom(key, 0, 0), Stream.REAL_NOISE, n)
    x_q = sample_noisy(q, sigma, SubstepRandom(key, 0, 1), Stream.FAKE_NOISE, n)
    h_p = _posterior_entropy(p, q, sigma, label_flip, x_p)
    h_q = _posterior_entropy(p, q, sigma, label_flip, x_q)
    estimate = LOG_2 - 0.5 * (np.mean(h_p) + np.mean(h_q))
    standard_error = 0.5 * np.sqrt((np.var(h_p, ddof=1) + np.var(h_q, ddof=1)) / n)
    return float(estimate), float(standard_error)


def _merged_atoms(p: data.Mixture, q: data.Mixture) -> tuple[np.ndarray, ...]:
    """Point masses only: (atoms: (A, dim), mass_p: (A,), mass_q: (A,)), one row per distinct
    position of p's and q's atoms, with the weights each distribution puts there."""
    if np.any(p.stds != 0.0) or np.any(q.stds != 0.0):
        raise ValueError("sigma = 0 needs point masses only (every std 0)")
    atoms, index = np.unique(np.concatenate([p.means, q.means]), axis=0, return_inverse=True)
    mass_p = np.bincount(index[: len(p.weights)], p.weights, minlength=len(atoms))
    mass_q = np.bincount(index[len(p.weights) :], q.weights, minlength=len(atoms))
    return atoms, mass_p, mass_q


def information_atoms(p: data.Mixture, q: data.Mixture, label_flip: float = 0.0) -> float:
    """sigma = 0, p and q mixtures of point masses: I(y~; x) from the atoms' weights. At an
    atom x with weights p(x) and q(x), D(x) = p(x) / (p(x) + q(x)) and
    m(x) = (p(x) + q(x)) / 2; atoms at the same position are merged. Disjoint supports give
    log 2 - h(label_flip)."""
    _, mass_p, mass_q = _merged_atoms(p, q)
    total = mass_p + mass_q
    with np.errstate(divide="ignore"):
        entropy = _flipped_entropy(np.log(mass_p / total), np.log(mass_q / total), label_flip)
    return LOG_2 - float(np.sum(0.5 * total * entropy))


def high_density_region(
    p: data.Mixture, q: data.Mixture, sigma: float, mass: float
) -> tuple[np.ndarray, np.ndarray]:
    """1-D, sigma > 0: (x: (N, 1), inside: (N,) bool): the quadrature grid and its smallest
    subset holding the given fraction of m_sigma's mass, where a trained discriminator sees
    enough samples for its logit to be compared with the optimal one."""
    x, spacing = quadrature_grid(p, q, sigma)
    m = mixture_density(p, q, sigma, x)
    order = np.argsort(-m)
    n_inside = np.searchsorted(np.cumsum(m[order]) * spacing, mass) + 1
    inside = np.zeros(len(x), dtype=bool)
    inside[order[:n_inside]] = True
    return x, inside


def noise_second_order_term(logit, logit_gradient, logit_laplacian, target) -> np.ndarray:
    """The sigma^2/2 coefficient of instance noise's effect on one sample's logistic loss:
    E_eps[l(phi(x + sigma eps))] = l(phi(x)) + sigma^2/2 * this + O(sigma^4), with
    l(phi) = softplus(phi) - target phi (reference/loss.py), so

        this = l'(phi) lap phi + l''(phi) |grad phi|^2
             = (D - target) lap phi + D (1 - D) |grad phi|^2

    with D = sigmoid(phi). logit, logit_laplacian: (N,); logit_gradient: (N, dim); target: a
    scalar or (N,) -> (N,). It holds at every x for any smooth phi; the module docstring says
    when its Laplacian part averages away, leaving Roth et al.'s Omega."""
    d = loss.sigmoid(np.asarray(logit, dtype=np.float64))
    squared_gradient = np.sum(np.asarray(logit_gradient, dtype=np.float64) ** 2, axis=-1)
    return (d - target) * logit_laplacian + d * (1.0 - d) * squared_gradient


# Gauss-Hermite nodes for E over N(0, 1). The Dirac-GAN integrands are sigmoids of
# psi * sigma * eps, analytic up to poles at distance pi / (|psi| sigma) from the real axis,
# so the error grows quickly with |psi| sigma. Measured for 128 nodes against 40-digit
# quadrature (mpmath) on the vector field's integrands: up to about 3e-11 for
# |psi| sigma <= 2.6, 2e-8 at 3.75 and 5e-8 at 4.
HERMITE_NODES = 128
_HERMITE_X, _HERMITE_W = np.polynomial.hermite.hermgauss(HERMITE_NODES)
_EPS_NODES = np.sqrt(2.0) * _HERMITE_X  # nodes for N(0, 1)
_EPS_WEIGHTS = _HERMITE_W / np.sqrt(np.pi)  # sum to 1


def dirac_f_prime(t):
    """f'(t) for f(t) = -log(1 + exp(-t)): sigmoid(-t)."""
    return loss.sigmoid(-np.asarray(t, dtype=np.float64))


def _check_penalty(penalty: str, gamma) -> None:
    """Raise unless penalty is one of PENALTIES, and gamma is 0 when it is 'none'."""
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    if penalty == "none" and np.any(np.asarray(gamma) != 0.0):
        raise ValueError("gamma weights a penalty: choose one (r1, r2 or roth)")


def dirac_vector_field(
    theta, psi, sigma=0.0, penalty: str = "none", gamma=0.0
) -> tuple[np.ndarray, np.ndarray]:
    """(v_theta, v_psi) = (-dL/dtheta, dL/dpsi - dOmega/dpsi) of the Dirac-GAN with instance
    noise of std sigma and the discriminator penalty Omega (one of PENALTIES, weight gamma;
    'none' needs gamma = 0); theta, psi, sigma and gamma broadcast together, and both
    components have the broadcast shape. The noise expectations are Gauss-Hermite sums over
    the last axis:

        v_theta = -E[psi f'(psi x~_fake)]
        v_psi   =  E[x~_fake f'(psi x~_fake)] - E[x~_real f'(-psi x~_real)] - dOmega/dpsi

    with dOmega/dpsi derived in the module docstring (gamma psi for R1 and R2).
    """
    _check_penalty(penalty, gamma)
    theta, psi, sigma, gamma = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (theta, psi, sigma, gamma))
    )  # one shape for both components, whatever gamma's
    theta, psi, sigma = (a[..., None] for a in (theta, psi, sigma))
    x_fake = theta + sigma * _EPS_NODES  # (..., HERMITE_NODES)
    x_real = sigma * _EPS_NODES
    d_fake = dirac_f_prime(psi * x_fake)  # D(x~_fake), the 'b' of the module docstring
    one_minus_d_real = dirac_f_prime(-psi * x_real)  # 1 - D(x~_real), its 'a'
    v_theta = -np.sum(_EPS_WEIGHTS * psi * d_fake, axis=-1)
    v_psi = np.sum(_EPS_WEIGHTS * (x_fake * d_fake - x_real * one_minus_d_real), axis=-1)
    if penalty == "none":
        return v_theta, v_psi
    psi = psi[..., 0]
    if penalty in ("r1", "r2"):
        return v_theta, v_psi - gamma * psi
    a, b = one_minus_d_real, d_fake
    mass = np.sum(_EPS_WEIGHTS * (a**2 + b**2), axis=-1)  # E[w_real + w_fake]
    # dOmega/dpsi = gamma psi mass + (gamma/2) psi^2 d(mass)/dpsi, and d(mass)/dpsi = 2 mass_slope.
    mass_slope = np.sum(_EPS_WEIGHTS * (a**2 * (1 - a) * x_real - b**2 * (1 - b) * x_fake), axis=-1)
    return v_theta, v_psi - gamma * psi * (mass + psi * mass_slope)


DIRAC_F_PRIME_0 = 0.5  # f'(0) = sigmoid(0)
DIRAC_F_SECOND_0 = -0.25  # f''(0) = -sigmoid(0) sigmoid(-0)
# mass = E[w_real + w_fake] at psi = 0, where D = 1/2 at every x: d^2Omega/dpsi^2 = gamma mass.
DIRAC_PENALTY_MASS = {"none": 0.0, "r1": 1.0, "r2": 1.0, "roth": 2.0 * DIRAC_F_PRIME_0**2}


def dirac_jacobian(sigma=0.0, penalty: str = "none", gamma=0.0) -> np.ndarray:
    """(..., 2, 2): the Jacobian of the vector field at (0, 0), rows (v_theta, v_psi),
    columns (theta, psi), in closed form: J_psi_psi = 2 f''(0) sigma^2 - mass gamma (mass
    from DIRAC_PENALTY_MASS); sigma and gamma broadcast together."""
    _check_penalty(penalty, gamma)
    sigma, gamma = np.broadcast_arrays(
        np.asarray(sigma, dtype=np.float64), np.asarray(gamma, dtype=np.float64)
    )
    jacobian = np.zeros((*sigma.shape, 2, 2))
    jacobian[..., 0, 1] = -DIRAC_F_PRIME_0
    jacobian[..., 1, 0] = DIRAC_F_PRIME_0
    jacobian[..., 1, 1] = 2.0 * DIRAC_F_SECOND_0 * sigma**2 - DIRAC_PENALTY_MASS[penalty] * gamma
    return jacobian


def dirac_eigenvalues(sigma=0.0, penalty: str = "none", gamma=0.0) -> np.ndarray:
    """(..., 2) complex: c +- sqrt(c^2 - f'(0)^2), '+' first, with c = J_psi_psi / 2 =
    f''(0) sigma^2 - mass gamma / 2 (the eigenvalues of [[0, -f'(0)], [f'(0), 2c]])."""
    centre = dirac_jacobian(sigma, penalty, gamma)[..., 1, 1] / 2.0
    root = np.sqrt((centre**2 - DIRAC_F_PRIME_0**2).astype(np.complex128))
    return np.stack([centre + root, centre - root], axis=-1)


def dirac_jacobian_numerical(sigma=0.0, delta=1e-4, penalty: str = "none", gamma=0.0) -> np.ndarray:
    """(..., 2, 2): the Jacobian of `dirac_vector_field` at (0, 0) by central differences of
    step delta, rows (v_theta, v_psi), columns (theta, psi); broadcasts over sigma and gamma.
    The check on `dirac_jacobian`, independent of its derivation: error about
    delta^2 |v'''| / 6 + machine epsilon / delta."""
    columns = []
    for d_theta, d_psi in ((delta, 0.0), (0.0, delta)):
        plus = np.stack(dirac_vector_field(d_theta, d_psi, sigma, penalty, gamma), axis=-1)
        minus = np.stack(dirac_vector_field(-d_theta, -d_psi, sigma, penalty, gamma), axis=-1)
        columns.append((plus - minus) / (2.0 * delta))  # (..., 2) each
    return np.stack(columns, axis=-1)


def dirac_trajectory(
    theta0: float,
    psi0: float,
    sigma: float,
    step_size: float,
    n_steps: int,
    alternating: bool,
    penalty: str = "none",
    gamma: float = 0.0,
) -> np.ndarray:
    """(n_steps + 1, 2): the path (theta, psi) of gradient descent on the game, from
    (theta0, psi0), moving along step_size * v (with the discriminator's penalty, if any).
    Simultaneous: both players step from the same point. Alternating: the discriminator
    steps first, then the generator from the new psi, the order of reference/gan.py's
    training step."""
    path = np.empty((n_steps + 1, 2))
    path[0] = theta0, psi0
    theta, psi = theta0, psi0
    for i in range(1, n_steps + 1):
        v_theta, v_psi = dirac_vector_field(theta, psi, sigma, penalty, gamma)
        psi_next = psi + step_size * float(v_psi)
        if alternating:
            v_theta, _ = dirac_vector_field(theta, psi_next, sigma, penalty, gamma)
        theta = theta + step_size * float(v_theta)
        psi = psi_next
        path[i] = theta, psi
    return path
