"""What the rows of bench/steps.py are measured against, written only for measuring:

    matmuls-only  the fast step's GEMMs alone, same shapes and parts (at P = 1 always on
                  device.SHARES threads; at P > 1 the GANs split over Numba's threads, where
                  the fused step hands them out), no elementwise work, on data that is the
                  same at every step: the BLAS limit of this design
    sgemm         a plain float32 GEMM on the fast path's BLAS and threading (Numba's
                  np.dot, one OpenBLAS thread per GEMM): the step's largest shape, alone
                  and one per Numba thread at once, and a 1024^3 one alone: the peak that
                  the GEMM GFLOP/s column, matmuls-only's above all, is to be judged by
    torch         the same networks, loss, noise and Adam written in plain PyTorch eager
                  (only if torch imports; its fastest Adam, fused, else foreach, in the
                  Adam column); torch's intra-op pool, one thread per core

These are the CPU rows; bench/gpu.py has matmuls-only's GPU twin and calls torch_row for
the GPU's, and bench/peers.py the compiled peers (JAX, torch.compile).
"""

import functools

import numba
import numpy as np
from numba import njit, prange

from bench.steps import population_config, training_row
from bench.timing import CORES, Row, fast_threads, gpu_threads, warmed_up
from fast import device
from fast import gan as fast_gan
from reference import gan as reference_gan
from reference import mlp as reference_mlp
from reference.config import GANConfig
from reference.data import get_dataset

SGEMM_LARGE = 1024


def matmuls_only_row(config: GANConfig, population: int) -> Row:
    """The fast CPU step's GEMMs alone, threaded as the fast step is (a GAN's parts on their
    own threads at P = 1, one GAN per thread above, BLAS single-threaded)."""
    spec_G, spec_D = config.generator_spec(), config.discriminator_spec()
    B, P = config.batch, population
    widest = max(*spec_G.sizes, *spec_D.sizes)
    state = fast_gan.init_state(population_config(config, P), "cpu")

    def network(spec, theta, rows: int, n_out: int):
        offsets = np.array([w for w, _, _ in spec.offsets()], np.int64)
        acts = np.ones((P, spec.n_layers, rows * widest), np.float32)
        grads = np.ones((P, 2, rows * widest), np.float32)
        out = np.ones((P, rows, n_out), np.float32)
        dx = np.zeros((P, rows, spec.sizes[0]), np.float32)
        sizes = np.array(spec.sizes, np.int64)
        return theta, np.zeros_like(theta), acts, grads, out, dx, sizes, offsets

    G = network(spec_G, state.theta_G, B, config.dim)
    D = network(spec_D, state.theta_D, 2 * B, 1)
    z = np.ones((P, B, config.latent), np.float32)
    x = np.ones((P, 2 * B, config.dim), np.float32)

    def step(_):
        if P > 1:
            _matmuls_only_parallel(G, D, z, x, config.d_steps)
        else:
            _matmuls_threaded(0, G, D, z, x, config.d_steps)

    set_threads = functools.partial(fast_threads, "gans" if P > 1 else "parts")
    row = training_row(impl="matmuls-only", where="cpu", population=P, step=step, block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    return warmed_up(row, 5)


def sgemm_row(m: int, k: int, n: int, gemms: int, block: int) -> Row:
    """`gemms` float32 GEMMs c[t] = a[t] @ b[t], (m, k) @ (k, n), at once, each on one
    OpenBLAS thread, threaded as matmuls-only is (one call with no parallel region for a
    single GEMM, one GEMM per Numba thread above): the fast path's BLAS and threading, with
    nothing else around them."""
    a, b = np.ones((gemms, m, k), np.float32), np.ones((gemms, k, n), np.float32)
    c = np.empty((gemms, m, n), np.float32)
    kernel = _sgemm_parallel if gemms > 1 else _sgemm_serial
    row = Row(impl="sgemm", device="cpu", population=gemms, step=lambda _: kernel(a, b, c),
              block=block, flops=gemms * 2 * m * k * n,
              set_threads=functools.partial(fast_threads, "gans" if gemms > 1 else "one"),
              fields={"shape": f"{m}x{k} @ {k}x{n}"})  # fmt: skip
    return warmed_up(row, 3)


def sgemm_rows(config) -> list[Row]:
    """The step's largest GEMM, D's hidden layer on 2B rows, alone and one per Numba thread,
    and a large square one alone, where OpenBLAS reaches its peak."""
    m, h, threads = 2 * config.batch, config.hidden, numba.config.NUMBA_NUM_THREADS
    # blocks of 10 to 20 ms, as the training rows' (the small GEMM takes about 0.15 ms, the
    # large one 20 ms), so that one lost time slice moves a block by a fraction, not a multiple
    return [sgemm_row(m, h, h, 1, 100), sgemm_row(m, h, h, threads, 100),
            sgemm_row(SGEMM_LARGE, SGEMM_LARGE, SGEMM_LARGE, 1, 1)]  # fmt: skip


def torch_network(config, theta, generator: bool, torch_device):
    """config's G (generator) or D as a torch Sequential holding the reference's flat float64
    theta's parameters in float32; Linear keeps W_l transposed, (n_l, n_{l-1})."""
    import torch

    spec = config.generator_spec() if generator else config.discriminator_spec()
    slope = reference_mlp.LEAKY_RELU_SLOPE
    layers = []
    for weight, bias in reference_mlp.layer_views(spec, theta):
        linear = torch.nn.Linear(*weight.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(weight.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias.copy()))
        layers += [linear, torch.nn.ReLU() if generator else torch.nn.LeakyReLU(slope)]
    return torch.nn.Sequential(*layers[:-1]).to(torch_device)


def torch_theta(G) -> np.ndarray:
    """A torch G's parameters as the reference's flat float64 theta_G: (n_params,)."""
    parts = [(p.T if p.ndim == 2 else p).detach().cpu().double().numpy().ravel()
             for p in G.parameters()]  # fmt: skip
    return np.concatenate(parts)


def torch_step(config, torch_device):
    """The torch row's step as (step(), G, Adam variant): the same networks and initial
    parameters as the reference, the ring's mixture sampled with torch's own generator,
    instance noise on real and fake, the logistic loss, Adam (fused where this torch has it,
    else foreach)."""
    import torch

    initial = reference_gan.init_state(config)
    G = torch_network(config, initial.theta_G, True, torch_device)
    D = torch_network(config, initial.theta_D, False, torch_device)
    optimizers, adam = [], "fused"
    for net in (G, D):
        kwargs = dict(lr=config.lr, betas=(config.beta1, config.beta2), eps=1e-8)
        try:
            optimizers.append(torch.optim.Adam(net.parameters(), fused=True, **kwargs))
        except (RuntimeError, TypeError):
            optimizers.append(torch.optim.Adam(net.parameters(), foreach=True, **kwargs))
            adam = "foreach"
    opt_G, opt_D = optimizers
    dataset = get_dataset(config.dataset)
    means = torch.tensor(dataset.means, dtype=torch.float32, device=torch_device)
    stds = torch.tensor(dataset.stds, dtype=torch.float32, device=torch_device)
    B, Z, sigma = config.batch, config.latent, config.sigma0
    target = torch.cat([torch.ones(B, 1), torch.zeros(B, 1)]).to(torch_device)
    ones = torch.ones(B, 1, device=torch_device)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def step():
        for _ in range(config.d_steps):
            component = torch.randint(len(means), (B,), device=torch_device)
            noise = torch.randn(B, config.dim, device=torch_device)
            x_real = means[component] + stds[component] * noise
            with torch.no_grad():
                x_fake = G(torch.randn(B, Z, device=torch_device))
            x = torch.cat([x_real, x_fake])
            loss_D = bce(D(x + sigma * torch.randn_like(x)), target)
            opt_D.zero_grad(set_to_none=True)
            loss_D.backward()
            opt_D.step()
        x_fake = G(torch.randn(B, Z, device=torch_device))
        loss_G = bce(D(x_fake + sigma * torch.randn_like(x_fake)), ones)
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward(inputs=list(G.parameters()))  # D's weight gradients are not needed
        opt_G.step()

    return step, G, adam


def torch_threads() -> str:
    """torch's intra-op pool, one thread per core."""
    import torch

    torch.set_num_threads(CORES)
    return f"torch x{torch.get_num_threads()}"


def torch_row(config, where: str) -> Row | None:
    """The same step in plain PyTorch eager (torch_step); on the CPU torch's intra-op pool,
    one thread per core. None without torch."""
    try:
        import torch
    except ImportError:
        return None
    step, _, adam = torch_step(config, torch.device("cuda" if where == "gpu" else "cpu"))
    set_threads = gpu_threads if where == "gpu" else torch_threads
    row = training_row(impl="torch", where=where, population=1, step=lambda _: step(), block=10,
                       set_threads=set_threads, config=config)  # fmt: skip
    row.fields["adam"] = adam
    return warmed_up(row, 5)


# The Numba kernels the rows above run.
@njit(error_model="numpy")
def _forward_gemms(theta, w_off, sizes, h, acts, out, part):
    """fast.mlp.forward_rows's GEMMs: h_l @ W_l on row share `part` of h (n, n0), layer by
    layer; acts: (L, n * widest) stands in for the hidden outputs."""
    n, n_layers = h.shape[0], sizes.shape[0] - 1
    first, stop = device.share(n, part)
    h_in = h
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        W = theta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        h_out = out if layer == n_layers - 1 else acts[layer, : n * n_out].reshape(n, n_out)
        np.dot(h_in[first:stop], W, h_out[first:stop])
        h_in = h_out


@njit(error_model="numpy")
def _backward_gemms(theta, w_off, sizes, h, acts, grads, out, dx, param_grad, dtheta, layer,
                    part):  # fmt: skip
    """fast.mlp.backward_layer's GEMMs, reading `out` as dy: h_l^T @ da (part 0, with
    param_grad) and da @ W_l^T one row share at a time. grads: (2, n * widest) stands in
    for backward_one's work, layer 0's input gradient goes into dx (n, n0)."""
    n, n_layers = h.shape[0], sizes.shape[0] - 1
    n_in, n_out = sizes[layer], sizes[layer + 1]
    W = theta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
    h_in = h if layer == 0 else acts[layer - 1, : n * n_in].reshape(n, n_in)
    last = layer == n_layers - 1
    da = out if last else grads[(layer + 1) % 2, : n * n_out].reshape(n, n_out)
    if param_grad and part == 0:
        dW = dtheta[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        np.dot(h_in.T, da, dW)
        return
    dh = dx if layer == 0 else grads[layer % 2, : n * n_in].reshape(n, n_in)
    first_part, stop_part = (0, device.SHARES) if param_grad else (part, part + 1)
    for rows_part in range(first_part, stop_part):
        first, stop = device.share(n, rows_part)
        np.dot(da[first:stop], W.T, dh[first:stop])


@njit(inline="always", error_model="numpy")
def _gemm_pass(theta, w_off, sizes, h, acts, grads, out, dx, backward, param_grad, dtheta):
    """The GEMMs of one fast.mlp pass on h (n, n0), in its order, shapes and parts (a
    parallel loop where this is inlined into a parallel kernel). The backward writes its
    gradients into grads, never over what a forward reads, so every step multiplies the
    same data (written over the activations, it would shrink step after step to denormals,
    then zeros, and time those)."""
    if not backward:
        for part in prange(device.SHARES):
            _forward_gemms(theta, w_off, sizes, h, acts, out, part)
        return
    for i in range(sizes.shape[0] - 1):
        layer = sizes.shape[0] - 2 - i
        for part in prange(device.SHARES):
            _backward_gemms(theta, w_off, sizes, h, acts, grads, out, dx, param_grad, dtheta,
                            layer, part)  # fmt: skip


def _matmuls_one(p, G, D, z, x, d_steps):
    """GAN p's GEMMs of fast.gan.train_step: per D substep G forward (B rows), D forward and
    full backward (2B rows); then G forward, D forward and input-gradient backward and G's
    full backward (B rows). G and D: (theta, dtheta, acts, grads, out, dx, sizes, w_off)."""
    theta_G, dtheta_G, acts_G, grads_G, out_G, dx_G, sizes_G, w_G = G
    theta_D, dtheta_D, acts_D, grads_D, out_D, dx_D, sizes_D, w_D = D
    B = z.shape[1]
    for substep in range(d_steps + 1):
        d_substep = substep < d_steps
        n = 2 * B if d_substep else B
        zp, out_Gp, dx_Gp = z[p], out_G[p], dx_G[p]
        xp, out_Dp, dx_Dp = x[p, :n], out_D[p, :n], dx_D[p, :n]
        theta, dtheta, acts, grads = theta_G[p], dtheta_G[p], acts_G[p], grads_G[p]
        _gemm_pass(theta, w_G, sizes_G, zp, acts, grads, out_Gp, dx_Gp, False, False, dtheta)
        theta, dtheta, acts, grads = theta_D[p], dtheta_D[p], acts_D[p], grads_D[p]
        _gemm_pass(theta, w_D, sizes_D, xp, acts, grads, out_Dp, dx_Dp, False, False, dtheta)
        _gemm_pass(theta, w_D, sizes_D, xp, acts, grads, out_Dp, dx_Dp, True, d_substep,
                   dtheta)  # fmt: skip
        if not d_substep:
            theta, dtheta, acts, grads = theta_G[p], dtheta_G[p], acts_G[p], grads_G[p]
            _gemm_pass(theta, w_G, sizes_G, zp, acts, grads, out_Gp, dx_Gp, True, True, dtheta)


# As fast/fused_step_cpu.py's step: GAN p's GEMMs as a plain function (here inside a
# population's parallel loop), and at P = 1 its parts on Numba's threads.
_matmuls_gan, _matmuls_threaded = device.compiled_twice(_matmuls_one)


@njit(parallel=True, cache=True, error_model="numpy")
def _matmuls_only_parallel(G, D, z, x, d_steps):
    for p in prange(z.shape[0]):
        _matmuls_gan(p, G, D, z, x, d_steps)


@njit(cache=True, error_model="numpy")
def _sgemm_serial(a, b, c):
    for t in range(a.shape[0]):
        np.dot(a[t], b[t], c[t])


@njit(parallel=True, cache=True, error_model="numpy")
def _sgemm_parallel(a, b, c):
    for t in prange(a.shape[0]):
        np.dot(a[t], b[t], c[t])
