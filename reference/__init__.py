"""The reference path: small MLP GANs in plain NumPy, float64, with hand-written backprop.

Written to be read, never optimised. Every other path in this repository (fast/, run.py, the
theory tests) is checked against it. One concept per file:

    gan.py      one training step with named intermediates, and the training loop: start here
    config.py   GANConfig, every hyperparameter of a run, checked when it is made (ConfigError)
    noise.py    instance noise, label noise, and the sigma schedules
    penalty.py  R1, R2 and Roth's gradient penalties on D, with their double backprop
    data.py     toy distributions and the digits: seeded samplers plus their exact descriptions
    digits.py   the 8x8 digits, split by index, and the fixed classifier that scores them
    mlp.py      dense layers over one flat parameter buffer, forward and backward
    loss.py     the logistic loss (stable softplus form) and the generator losses
    optim.py    Adam over flat buffers
    philox.py   Philox4x32-10 counter-based random numbers, by (seed, step, stream, index)
    metrics.py  modes captured, high-quality fraction, reverse KL, energy distance; the
                digits' classes, confidence and Frechet distance
    theory.py   the analytic side: noisy densities, the optimal discriminator, JS, Dirac-GAN
    discriminator.py  fit D to two fixed distributions, to hold against theory.py's optimum

Shapes are written in comments with these names: B batch, dim the data dimension, H hidden
width, Z latent dimension, K mixture components, N a generic count. D is the discriminator,
G the generator.
"""
