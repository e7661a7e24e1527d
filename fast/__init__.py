"""The fast path: the reference's GAN training in float32, for a population of P GANs at
once, with fused kernels: Numba on the CPU, CUDA (through CuPy) on a GPU.

fast/ mirrors reference/ file for file and function for function: the same names, the same
arguments in the same order, every buffer with a leading population axis P (x: (P, B, D),
theta: (P, n_params)). GAN p of a population is the reference GAN with seed seeds[p] and
noise level noises[p], and must agree with it to the tolerance tests/tolerance.py derives
from float32 and the reduction lengths; the random numbers are bit-identical.

    device.py   where arrays live (NumPy or CuPy), 'cpu' | 'gpu' | 'auto'
    noise.py    Philox4x32-10, normals, instance noise fused into the kernel that adds it
    data.py     toy-distribution samples, Philox + component choice + offset in one pass
    mlp.py      dense layers over flat buffers: BLAS GEMMs, fused bias+activation and its
                derivative
    loss.py     label noise + logistic loss + gradient + per-GAN mean in one kernel
    optim.py    Adam and SGD over the flat buffer of the whole population, one kernel
    gan.py      the population's training step with named intermediates, and the loop
    bench.py    python -m fast.bench: steps per second against the reference and PyTorch

Each public function dispatches on where its arrays live: `if device.on_gpu(x)` it runs the
CUDA kernels of the .cu file beside it, otherwise the Numba kernels above it.

Names beyond the reference's follow two patterns: `<name>_one` is the Numba body of <name>
for one GAN (the population kernels and the fused CPU step call it), and `<name>_into_gpu`
writes into buffers made once (what the captured CUDA graph replays). A few kernels fuse
what the reference does in separate functions: `mlp.bias_activation` (bias add +
activation_forward), `mlp.activation_backward_sum` (activation_backward + the bias
gradient), `loss.softplus_sigmoid` (softplus and sigmoid in one pass; the label targets of
loss.discriminator_targets are formed inside the fused loss kernel) and
`noise.noisy_discriminator_input` (add_instance_noise on real and fake samples in one pass).
What needs no speed (key_from_seed, stream_id, sigma_schedule, the datasets, init_params) is
imported from the reference, not written twice. Extra arguments: `gan.init_state` takes the
device, and `mlp.backward` can skip the weight gradients (`param_grad=False`: the generator's
step needs only D's input gradient).
"""
