"""The fast path: the reference's GAN training in float32, for a population of P GANs at
once, with fused kernels: Numba on the CPU, CUDA (through CuPy) on a GPU.

Contract: GAN p of a population is the reference GAN with configuration members[p]. Its
random numbers are bit-identical to the reference's (a substep's come from the reference's
own SubstepRandom, whose key is the population's (P, 2) keys), and its arithmetic agrees
with the reference's to the tolerance tests/tolerance.py derives from float32 and the
reduction lengths.

The mirror, file by file: fast/X.py is reference/X.py for a population, checked against it
by tests/test_fast_X.py, for X in

    gan  data  loss  mlp  noise  optim  penalty  philox  metrics

Each of these reference functions has a namesake in fast/X.py, with the same arguments in
the same order and every array with a leading population axis P (x: (P, B, dim), theta:
(P, n_params)): gan.generate, discriminator_substep, generator_substep, train_step, train;
data.sample; loss.generator_loss; mlp.forward, backward, layer_views, named_parameters;
noise.add_instance_noise; optim.AdamState, adam_init, adam_step; penalty.penalty,
penalised_backward; philox.philox4x32, random_words, uniform, normal; metrics.mode_metrics,
energy_distance, evaluation_samples, evaluate_generator, evaluate. What needs no speed
(GANConfig, MLPSpec, SubstepRandom, key_from_seed, stream_id, sigma_schedule, the datasets,
init_params, Adam's eps) is imported from the reference, not written twice. What differs,
and why:

    gan.py      PopulationConfig (P GANConfigs) and PopulationState in place of GANState;
                init_state takes the device, and NonFiniteLossError names the GANs that
                went non-finite; the substeps return named records
                (DiscriminatorSubstep, GeneratorSubstep), not dicts, so that three versions
                of the step can hand over their tensors alike, and `Intermediates` names
                them by one table (INTERMEDIATES) with the reference's keys; composed_step
                is the step the reference's train_step writes, on either device
    penalty.py  a penalty is a code per GAN (kinds (P,): reference/penalty.py's NONE, R1,
                R2, ROTH), not a name, so GANs with different penalties share a kernel;
                CPU only (no GPU has run its kernels, so none ship)
    mlp.py      backward(..., param_grad=False) skips the weight gradients (the generator's
                step needs only D's input gradient); activations as codes (reference/mlp.py:
                RELU, LEAKY_RELU, TANH, and LINEAR for the output layer)
    loss.py     discriminator_loss_with_label_noise fuses noise.label_noise_targets and
                loss.discriminator_loss (so noise.py has no label noise)
    noise.py    noisy_discriminator_input noises the real and the fake samples in one pass,
                straight into D's (P, 2B, dim) input
    philox.py   substep_normal: SubstepRandom.normal for every key at once

reference/config.py, theory.py and discriminator.py have no twin (GANConfig is shared; the
theory needs no speed), and three files here have none: they are how the step is made
fast, not what it is.

    fused_step_cpu.py  the CPU step as one Numba call per GAN: what gan.train_step runs on the CPU,
                       the composed step's bits (tests/test_fast_gan.py)
    graph_step_gpu.py  the GPU step captured as one CUDA graph: what gan.train runs on a
                       GPU, the composed step kernel for kernel (tests/test_fast_gpu.py)
    device.py          where arrays live (NumPy or CuPy), 'cpu' | 'gpu' | 'auto'; how many
                       threads run (SHARES, ThreadChoice); cuBLAS for the CUDA graph

Each public function dispatches on where its arrays live: `if device.on_gpu(x)` it runs the
CUDA kernels of the .cu file of the same name (data, loss, mlp, noise, optim, philox),
otherwise the Numba kernels of the .py file. Names beyond the reference's follow two
patterns: `<name>_one` is the Numba body of <name> for one GAN (the population kernels and
the fused CPU step call it; a GAN's work on the CPU comes in `device.SHARES` parts, so the
fused step can run a single GAN's parts on their own threads and compute the same bits),
and `<name>_into_gpu` writes into buffers made once (what the captured CUDA graph replays).
A few kernels fuse what the reference does in two functions: mlp.bias_activation (bias add
+ activation_forward), mlp.activation_backward_sum (activation_backward + the bias
gradient), loss.softplus_sigmoid, and penalty.penalty_forward_one and penalty_backward_one
(the penalty's two halves, run around D's backward).
"""
