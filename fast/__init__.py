"""The fast path: the reference's GAN training in float32, for a population of P GANs at
once, with fused kernels: Numba on the CPU, CUDA (through CuPy) on a GPU.

Contract: fast/ mirrors reference/ file for file and function for function: the same
names, the same arguments in the same order, every buffer with a leading population axis P
(x: (P, B, dim), theta: (P, n_params)). GAN p of a population is the reference GAN with
configuration members[p], and must agree with it to the tolerance
tests/tolerance.py derives from float32 and the reduction lengths; the random numbers are
bit-identical. A substep's random numbers come as the reference's own SubstepRandom, whose
key is the population's (P, 2) keys.

    gan.py             the population's training step (the composition of the kernels
                       below) with named intermediates, and the training loop
    noise.py           instance noise, fused into the kernel that adds it
    data.py            toy-distribution samples: Philox, component choice and offset in one pass
    mlp.py             dense layers over flat buffers: BLAS GEMMs, fused bias + activation and
                       its derivative
    loss.py            the GAN losses, label noise fused into the discriminator's
    penalty.py         R1, R2 and Roth's penalties on D, per GAN (CPU only: no GPU kernels)
    metrics.py         a population's evaluation at once, in float64
    optim.py           Adam over the flat buffers of the whole population, each GAN's in parts
    philox.py          Philox4x32-10 words, uniforms and normals
    fused_step_cpu.py  the CPU step as one Numba call: what gan.train_step runs on the CPU
    graph_step_gpu.py  the GPU step captured as one CUDA graph: what gan.train runs on a GPU
    device.py          where arrays live (NumPy or CuPy), 'cpu' | 'gpu' | 'auto'; cuBLAS
    bench.py           python -m bench: steps per second against the reference and PyTorch
    sweep.py           python -m sweep: every method of a grid over datasets, D strengths
                       and seeds, each block of the grid one population; resumable
    options.py         run.py's options, parsed into one GANConfig per GAN, and --resume

Each public function dispatches on where its arrays live: `if device.on_gpu(x)` it runs the
CUDA kernels of the .cu file of the same name, otherwise the Numba kernels above it.

Names beyond the reference's follow two patterns: `<name>_one` is the Numba body of <name>
for one GAN (the population kernels and the fused CPU step call it), and `<name>_into_gpu`
writes into buffers made once (what the captured CUDA graph replays). A GAN's work on the
CPU comes in `device.SHARES` parts (`mlp.forward_rows`, `mlp.backward_layer`,
`optim.adam_share`, and the element ranges of the random numbers), so that the fused step
can run a single GAN's parts on their own threads and compute the same bits. A few kernels fuse
what the reference does in separate functions: `mlp.bias_activation` (bias add +
activation_forward), `mlp.activation_backward_sum` (activation_backward + the bias
gradient), `loss.softplus_sigmoid` (softplus and sigmoid in one pass),
`loss.discriminator_loss_with_label_noise` (noise.label_noise_targets +
loss.discriminator_loss), `penalty.penalty_forward_one` and `penalty_backward_one` (the
penalty's two halves, around D's backward, as reference/gan.py runs them),
`noise.noisy_discriminator_input` (add_instance_noise on the real and the fake samples in
one pass) and `philox.substep_normal` (SubstepRandom.normal for
every key). What needs no speed (SubstepRandom, key_from_seed, stream_id, sigma_schedule,
the datasets, init_params, Adam's eps) is imported from the reference, not written twice.
Extra arguments: `gan.init_state` takes the device, and `mlp.backward` can skip the weight
gradients (`param_grad=False`: the generator's step needs only D's input gradient).
"""
