"""The compiled peers a user would otherwise write, measured beside the fast path on the CPU:

    jax           the same step under jax.jit, at P = 1 and jax.vmap'd over P GANs ('jit'),
                  and jax.lax.scan over a block of steps ('scan')
    torch         bench/baselines.py's torch step under torch.compile at P = 1 ('compile')
                  and, above, written with torch.func and vmapped ('compile+vmap')

A peer (a Peer) is built only where its package imports (neither is a dependency), reports
its compile time (its first call), and its GEMM FLOPs, counted from what it runs (the
jaxpr's dot_generals, torch's FlopCounterMode), must equal autodiff_gemm_flops_per_gan_step
(asserted). check_modes trains each 3000 steps and scores every GAN's generator with
reference/metrics.py (python -m bench --check-modes).
"""

import copy
import dataclasses
import importlib.util
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from bench.baselines import torch_network, torch_step, torch_theta, torch_threads
from bench.steps import SEED, gemm_flops_per_gan_step, training_row
from bench.timing import Row, warmed_up
from reference import gan as reference_gan
from reference import metrics as reference_metrics
from reference import mlp as reference_mlp
from reference.config import GANConfig
from reference.data import get_dataset


def autodiff_gemm_flops_per_gan_step(config: GANConfig) -> int:
    """gemm_flops_per_gan_step less the GEMMs that autodiff leaves out because nothing needs
    them and the reference and fast run: the input gradient of D's first layer in each D
    substep (2B rows; the data and G's samples are constants there) and of G's first layer
    in the G substep (B rows; z is a constant). What a peer's step must count."""
    spec_G, spec_D, B = config.generator_spec(), config.discriminator_spec(), config.batch
    unneeded = config.d_steps * 2 * B * spec_D.sizes[0] * spec_D.sizes[1]
    unneeded += B * spec_G.sizes[0] * spec_G.sizes[1]
    return gemm_flops_per_gan_step(config) - 2 * unneeded


@dataclass
class Peer:
    """A compiled peer's training of `population` GANs: step(s) takes training step s (a
    scan peer runs `block` steps at each s that `block` divides and nothing at the others,
    so that any `block` consecutive calls take `block` steps) and returns once it is done;
    thetas_G() gives the generators as the reference's flat float64 theta_G, (P, n_params);
    compile_s is the first call's seconds (step 0, taken when it is built); gemm_flops is
    one GAN's step's GEMM FLOPs, counted from what it runs."""

    impl: str
    variant: str
    population: int
    step: Callable[[int], None]
    block: int
    set_threads: Callable[[], str]
    thetas_G: Callable[[], np.ndarray]
    compile_s: float
    gemm_flops: int


def _first_call(step) -> float:
    """Seconds of step(0): tracing, compilation and the first step."""
    start = time.perf_counter()
    step(0)
    return time.perf_counter() - start


def _peer_block(population: int) -> int:
    """Steps per timed block (and per scan): blocks of tens of ms to a few hundred."""
    return 10 if population == 1 else 2


def _jax_gemm_flops(jaxpr) -> int:
    """FLOPs of the dot_generals of a jaxpr (2 per multiply-add), those of the jaxprs it
    calls (jit, custom_jvp) included and a scan's body counted `length` times."""
    from jax.extend.core import ClosedJaxpr

    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (contracting, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            n_out = math.prod(eqn.outvars[0].aval.shape)
            total += 2 * n_out * math.prod(lhs[i] for i in contracting)
        for param in eqn.params.values():
            if isinstance(param, ClosedJaxpr):
                total += eqn.params.get("length", 1) * _jax_gemm_flops(param.jaxpr)
    return total


def _jax_peer(config: GANConfig, population: int, scan: bool) -> Peer:
    """The step in JAX under jax.jit: the same networks and initial parameters as the
    reference (GAN p from seed SEED + p), the ring's mixture sampled with JAX's own RNG,
    instance noise on real and fake, the logistic loss, Adam as torch's; at P > 1 jax.vmap
    over the GANs; with scan, jax.lax.scan over a block of steps in one call. The state is
    donated to each call, so XLA updates it in place; XLA's own thread pool."""
    import jax
    import jax.numpy as jnp

    dataset = get_dataset(config.dataset)
    means = jnp.asarray(dataset.means, jnp.float32)
    stds = jnp.asarray(dataset.stds, jnp.float32)
    B, Z, sigma = config.batch, config.latent, config.sigma0
    slope = reference_mlp.LEAKY_RELU_SLOPE

    def network(params, x, hidden_activation):
        for weight, bias in params[:-1]:
            x = hidden_activation(x @ weight + bias)
        weight, bias = params[-1]
        return x @ weight + bias

    def G(params_G, z):
        return network(params_G, z, jax.nn.relu)

    def D(params_D, x):
        return network(params_D, x, lambda a: jax.nn.leaky_relu(a, slope))

    def adam(params, grads, moments):
        m, v, t = moments
        t = t + 1
        m = jax.tree.map(lambda m, g: config.beta1 * m + (1.0 - config.beta1) * g, m, grads)
        v = jax.tree.map(lambda v, g: config.beta2 * v + (1.0 - config.beta2) * g * g, v, grads)
        step_size = config.lr / (1.0 - config.beta1**t)
        root_bias = jnp.sqrt(1.0 - config.beta2**t)

        def update(p, m, v):
            return p - step_size * m / (jnp.sqrt(v) / root_bias + 1e-8)

        return jax.tree.map(update, params, m, v), (m, v, t)

    def loss_D(params_D, x):
        """The mean logistic loss over 2B logits, the first B real (x: (2B, dim))."""
        logits = D(params_D, x)
        return (jnp.sum(jax.nn.softplus(-logits[:B])) + jnp.sum(jax.nn.softplus(logits[B:]))) / (
            2 * B
        )

    def loss_G(params_G, params_D, z, noise):
        """The non-saturating loss: -log sigmoid(D(G(z) + sigma noise)), its mean."""
        return jnp.mean(jax.nn.softplus(-D(params_D, G(params_G, z) + sigma * noise)))

    def train_step(state):
        params_G, params_D, adam_G, adam_D, key = state
        for _ in range(config.d_steps):
            key, k_component, k_offset, k_z, k_noise = jax.random.split(key, 5)
            component = jax.random.randint(k_component, (B,), 0, len(dataset.means))
            offset = jax.random.normal(k_offset, (B, config.dim))
            x_real = means[component] + stds[component] * offset
            x = jnp.concatenate([x_real, G(params_G, jax.random.normal(k_z, (B, Z)))])
            noisy = x + sigma * jax.random.normal(k_noise, x.shape)
            params_D, adam_D = adam(params_D, jax.grad(loss_D)(params_D, noisy), adam_D)
        key, k_z, k_noise = jax.random.split(key, 3)
        z, noise = jax.random.normal(k_z, (B, Z)), jax.random.normal(k_noise, (B, config.dim))
        params_G, adam_G = adam(params_G, jax.grad(loss_G)(params_G, params_D, z, noise), adam_G)
        return params_G, params_D, adam_G, adam_D, key

    def initial(p):
        state = reference_gan.init_state(dataclasses.replace(config, seed=SEED + p))
        params = [[(jnp.asarray(w, jnp.float32), jnp.asarray(b, jnp.float32))
                   for w, b in reference_mlp.layer_views(spec, theta)]
                  for spec, theta in ((config.generator_spec(), state.theta_G),
                                      (config.discriminator_spec(), state.theta_D))]  # fmt: skip
        moments = [(jax.tree.map(jnp.zeros_like, net), jax.tree.map(jnp.zeros_like, net),
                    jnp.int32(0)) for net in params]  # fmt: skip
        return (*params, *moments, jax.random.key(SEED + p))

    block = _peer_block(population)
    one = train_step
    if scan:
        one = lambda state: jax.lax.scan(lambda s, _: (train_step(s), None), state, length=block)[0]  # noqa: E731
    states = [initial(p) for p in range(population)]
    many = one if population == 1 else jax.vmap(one)
    state = states[0] if population == 1 else jax.tree.map(lambda *x: jnp.stack(x), *states)
    flops = _jax_gemm_flops(jax.make_jaxpr(many)(state).jaxpr)
    flops //= population * (block if scan else 1)
    compiled = jax.jit(many, donate_argnums=0)

    def step(s: int) -> None:
        nonlocal state
        if not scan or s % block == 0:
            # JAX returns before the work is done: wait, as the other CPU rows do
            state = jax.block_until_ready(compiled(state))

    def thetas_G() -> np.ndarray:
        params_G = state[0] if population > 1 else jax.tree.map(lambda x: x[None], state[0])
        flat = [np.asarray(x, np.float64).reshape(population, -1) for w_b in params_G for x in w_b]
        return np.concatenate(flat, axis=1)

    compile_s = _first_call(step)
    return Peer(impl="jax", variant="scan" if scan else "jit", population=population,
                step=step, block=block, set_threads=lambda: "XLA default pool",
                thetas_G=thetas_G, compile_s=compile_s, gemm_flops=flops)  # fmt: skip


def _torch_gemm_flops(step, population: int) -> int:
    """One GAN's GEMM FLOPs in one call of an eager torch step that trains `population`."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() // population


def _torch_compiled_peer(config: GANConfig) -> Peer:
    """The torch row's step (torch_step) under torch.compile, default mode, P = 1. Dynamo
    breaks the graph at each backward() and zero_grad() and leaves fused Adam uncompiled
    (torch marks it so); the forward and backward graphs between are Inductor's."""
    import torch

    cpu = torch.device("cpu")
    flops = _torch_gemm_flops(torch_step(config, cpu)[0], 1)
    eager, G, _ = torch_step(config, cpu)
    compiled = torch.compile(eager)
    compile_s = _first_call(lambda _: compiled())
    return Peer(impl="torch", variant="compile", population=1, step=lambda _: compiled(),
                block=_peer_block(1), set_threads=torch_threads,
                thetas_G=lambda: torch_theta(G)[None], compile_s=compile_s,
                gemm_flops=flops)  # fmt: skip


def _torch_vmap_peer(config: GANConfig, population: int) -> Peer:
    """The torch step written with torch.func (functional_call, grad, Adam as torch's
    foreach formula), for one GAN, vmapped over `population` (GAN p from seed SEED + p,
    its own random numbers) and compiled with torch.compile, default mode. The step count t
    is a tensor, so that a new t does not recompile."""
    import torch
    from torch.func import functional_call, grad, stack_module_state, vmap

    cpu = torch.device("cpu")
    dataset = get_dataset(config.dataset)
    means = torch.tensor(dataset.means, dtype=torch.float32)
    stds = torch.tensor(dataset.stds, dtype=torch.float32)
    B, Z, sigma = config.batch, config.latent, config.sigma0
    target = torch.cat([torch.ones(B, 1), torch.zeros(B, 1)])
    ones = torch.ones(B, 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    states = [reference_gan.init_state(dataclasses.replace(config, seed=SEED + p))
              for p in range(population)]  # fmt: skip
    G_all = [torch_network(config, s.theta_G, True, cpu) for s in states]
    D_all = [torch_network(config, s.theta_D, False, cpu) for s in states]
    # functional_call runs a network's structure on given parameters: one on meta suffices
    G_meta, D_meta = (copy.deepcopy(nets[0]).to("meta") for nets in (G_all, D_all))

    def G(params_G, z):
        return functional_call(G_meta, params_G, (z,))

    def D(params_D, x):
        return functional_call(D_meta, params_D, (x,))

    def adam(params, grads, m, v, t):
        m = {k: config.beta1 * m[k] + (1.0 - config.beta1) * grads[k] for k in params}
        v = {k: config.beta2 * v[k] + (1.0 - config.beta2) * grads[k] ** 2 for k in params}
        step_size = config.lr / (1.0 - config.beta1**t)
        root_bias = torch.sqrt(1.0 - config.beta2**t)
        params = {k: params[k] - step_size * m[k] / (torch.sqrt(v[k]) / root_bias + 1e-8)
                  for k in params}  # fmt: skip
        return params, m, v

    def loss_D(params_D, x):
        return bce(D(params_D, x), target)

    def loss_G(params_G, params_D, z, noise):
        return bce(D(params_D, G(params_G, z) + sigma * noise), ones)

    def train_step(params_G, params_D, m_G, v_G, m_D, v_D, t):
        for _ in range(config.d_steps):
            component = torch.randint(len(means), (B,))
            x_real = means[component] + stds[component] * torch.randn(B, config.dim)
            x = torch.cat([x_real, G(params_G, torch.randn(B, Z))])
            grads_D = grad(loss_D)(params_D, x + sigma * torch.randn_like(x))
            params_D, m_D, v_D = adam(params_D, grads_D, m_D, v_D, t)
        z, noise = torch.randn(B, Z), torch.randn(B, config.dim)
        grads_G = grad(loss_G)(params_G, params_D, z, noise)
        params_G, m_G, v_G = adam(params_G, grads_G, m_G, v_G, t)
        return params_G, params_D, m_G, v_G, m_D, v_D

    def initial():
        params = [{k: x.detach() for k, x in stack_module_state(nets)[0].items()}
                  for nets in (G_all, D_all)]  # fmt: skip
        # m and v apart: inputs that alias would be compiled for, then recompiled without
        m_v = [{k: torch.zeros_like(x) for k, x in p.items()} for p in params for _ in "mv"]
        return [*params, *m_v]

    batched = vmap(train_step, in_dims=(0,) * 6 + (None,), randomness="different")
    state = initial()
    flops = _torch_gemm_flops(lambda: batched(*state, torch.tensor(1.0)), population)
    compiled = torch.compile(batched)
    t = torch.zeros(())

    def step(_) -> None:
        nonlocal state
        t.add_(1.0)  # Adam's step count, shared by G and D with d_steps counted in D's
        state = list(compiled(*state, t))

    def thetas_G() -> np.ndarray:
        params_G = state[0]
        flat = [(x.transpose(1, 2) if x.ndim == 3 else x).double().numpy().reshape(population, -1)
                for x in params_G.values()]  # fmt: skip
        return np.concatenate(flat, axis=1)

    compile_s = _first_call(step)
    return Peer(impl="torch", variant="compile+vmap", population=population, step=step,
                block=_peer_block(population), set_threads=torch_threads,
                thetas_G=thetas_G, compile_s=compile_s, gemm_flops=flops)  # fmt: skip


def peers(config: GANConfig, populations: tuple[int, ...]) -> list[Peer]:
    """The compiled peers that import here: JAX jit and scan at each population, torch.compile
    at P = 1 and with vmap above; each peer's GEMM FLOPs checked against
    autodiff_gemm_flops_per_gan_step."""
    built = []
    if importlib.util.find_spec("jax") is not None:
        built += [_jax_peer(config, P, scan) for P in populations for scan in (False, True)]
    if importlib.util.find_spec("torch") is not None:
        built += [_torch_compiled_peer(config) if P == 1 else _torch_vmap_peer(config, P)
                  for P in populations]  # fmt: skip
    expected = autodiff_gemm_flops_per_gan_step(config)
    for peer in built:
        assert peer.gemm_flops == expected, (
            f"{peer.impl}/{peer.variant} P={peer.population}: {peer.gemm_flops} GEMM FLOPs "
            f"a GAN-step, not the {expected} of the same step"
        )
    return built


def peer_rows(config: GANConfig, populations: tuple[int, ...]) -> list[Row]:
    """A row per compiled peer, its compile time (first call) in its fields."""
    rows = []
    for peer in peers(config, populations):
        row = training_row(impl=peer.impl, where="cpu", population=peer.population,
                           step=peer.step, block=peer.block, set_threads=peer.set_threads,
                           config=config)  # fmt: skip
        row.flops = peer.population * peer.gemm_flops
        row.fields.update(variant=peer.variant, compile_s=peer.compile_s)
        rows.append(warmed_up(row, 2 * peer.block))
    return rows


def check_modes(config: GANConfig, populations: tuple[int, ...]) -> Iterator[dict]:
    """Each compiled peer trained config.steps steps from its step 0, each GAN's generator
    scored by reference.metrics.evaluate_generator (its seed's evaluation samples): per
    peer, as it is done, its name, population and every GAN's modes captured, of
    modes_total."""
    for peer in peers(config, populations):
        for s in range(1, config.steps):  # step 0 was its first call
            peer.step(s)
        captured = []
        for p, theta_G in enumerate(peer.thetas_G()):
            seeded = dataclasses.replace(config, seed=SEED + p)
            captured.append(reference_metrics.evaluate_generator(seeded, theta_G)[0])
        yield {"peer": f"{peer.impl}/{peer.variant}", "population": peer.population,
               "modes_captured": [m["modes_captured"] for m in captured],
               "modes_total": captured[0]["modes_total"]}  # fmt: skip
