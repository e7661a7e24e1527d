"""The training step on the GPU, captured once as a CUDA graph and replayed.

fast/gan.py's composed_step on the GPU launches every kernel and GEMM from Python, and at
P = 1 a step is ~40 small kernels and ~30 small GEMMs, so launching them costs more than
running them. GraphStep allocates every buffer once, runs the step eagerly on its first
call (which also compiles the kernels and initialises cuBLAS outside the capture), captures
the next call into one CUDA graph, and from then on launches the whole step in one call.

For a graph to be replayable, nothing in it may change between steps except device memory:
the step word the Philox kernels read and Adam's bias corrections live in one small control
buffer rewritten by a single host-to-device copy before each launch (sigma in its own,
rewritten only when the schedule changes it).

Buffers are (P, ...) CuPy arrays, handed over as fast/gan.py's substep records and named by
its table; the arithmetic is composed_step's, kernel for kernel (tests/test_fast_gpu.py).
Needs CuPy and a CUDA device.
"""

import numpy as np

from fast import data, loss, mlp, noise, optim, philox
from fast.gan import DiscriminatorSubstep, GeneratorSubstep, Intermediates
from reference.data import get_dataset
from reference.philox import Stream, stream_id


class GraphStep:
    """fast.gan.composed_step on the GPU over buffers allocated once, replayed as one CUDA
    graph from the second call on. If capture fails (an old driver, a cuBLAS that allocates
    during capture), the reason is printed and the eager path is used from then on.

    Calling it returns (record, intermediates) like composed_step, as views of the buffers:
    they are overwritten by the next call, so copy what must outlive it. The state's
    arrays are updated in place (the graph holds their addresses).
    """

    def __init__(self, config, state, use_graph: bool = True):
        """config: a fast.gan.PopulationConfig; state: its GPU PopulationState."""
        import cupy

        base, P = config.base, config.size
        B, H = base.batch, base.hidden
        self.config, self.state, self.P = config, state, P
        self.spec_G, self.spec_D = base.generator_spec(), base.discriminator_spec()
        self.dataset = get_dataset(base.dataset)
        self.use_graph, self.graph, self.sigma_host = use_graph, None, None

        def zeros(*shape, dtype=np.float32):
            return cupy.zeros(shape, dtype=dtype)

        # control: word 0 the step; from word 2 on, (d_steps + 1) pairs of float64 bias
        # corrections, the D updates' then the G update's
        n_updates = base.d_steps + 1
        self.control_host = np.zeros(2 + 4 * n_updates, dtype=np.uint32)
        self.control = cupy.asarray(self.control_host)
        self.step_word = self.control[:1]
        self.corrections = self.control[2:].view(np.float64).reshape(n_updates, 2)
        self.sigma = zeros(P)
        width = max(H, 1)
        self.d_buffers = [self._discriminator_buffers(zeros) for _ in range(base.d_steps)]
        self.g_buffers = self._generator_buffers(zeros)
        self.scratch = [zeros(P * 2 * B * width) for _ in range(2)]
        # A blocking stream: ordered with the default stream that the state's other users
        # (and the host copies of records) run on, yet capturable.
        self.stream = cupy.cuda.Stream(non_blocking=False)
        # Views of buffers that live as long as self: made once (each intermediate on its
        # first access), not per step (at P = 1 forming ~50 views would cost more than the
        # step itself).
        self.record, self.intermediates = self._record(), self._intermediates()

    def _discriminator_buffers(self, zeros) -> dict:
        """One D substep's buffers, named as the reference's intermediates."""
        P, base, state = self.P, self.config.base, self.state
        B, Z, dim = base.batch, base.latent, base.dim
        return {
            "x_real": zeros(P, B, dim),
            "z": zeros(P, B, Z),
            "hidden_G": [zeros(P, B, n) for n in self.spec_G.sizes[1:-1]],
            "x_fake": zeros(P, B, dim),
            "x_noisy": zeros(P, 2 * B, dim),
            "hidden_D": [zeros(P, 2 * B, n) for n in self.spec_D.sizes[1:-1]],
            "logits": zeros(P, 2 * B, 1),
            "dlogits": zeros(P, 2 * B, 1),
            "loss_D": zeros(P),
            "D_real": zeros(P),
            "D_fake": zeros(P),
            "dtheta_D": zeros(*state.theta_D.shape),  # theta is float32
            "dx": zeros(P, 2 * B, dim),
        }

    def _generator_buffers(self, zeros) -> dict:
        """The G substep's buffers."""
        P, base, state = self.P, self.config.base, self.state
        B, Z, dim = base.batch, base.latent, base.dim
        return {
            "z": zeros(P, B, Z),
            "hidden_G": [zeros(P, B, n) for n in self.spec_G.sizes[1:-1]],
            "x_fake": zeros(P, B, dim),
            "x_fake_noisy": zeros(P, B, dim),
            "hidden_D": [zeros(P, B, n) for n in self.spec_D.sizes[1:-1]],
            "logits": zeros(P, B, 1),
            "dlogits": zeros(P, B, 1),
            "loss_G": zeros(P),
            "dx_fake": zeros(P, B, dim),
            "dtheta_G": zeros(*state.theta_G.shape),
            "dz": zeros(P, B, Z),
        }

    def _launch_all(self) -> None:
        """Every kernel and GEMM of one step, in order, reading the step from the control
        buffer; nothing here allocates, so it can be captured."""
        for substep, buf in enumerate(self.d_buffers):
            self._launch_discriminator_substep(substep, buf)
        self._launch_generator_substep(self.config.base.d_steps, self.g_buffers)

    def _launch_discriminator_substep(self, substep: int, buf: dict) -> None:
        base, state, spec_G, spec_D = self.config.base, self.state, self.spec_G, self.spec_D
        key, step = state.keys, self.step_word
        adam = (base.lr, base.beta1, base.beta2, optim.EPS)
        data.sample_into_gpu(buf["x_real"], self.dataset, key, step, substep)
        philox.normal_into_gpu(buf["z"], key, step, stream_id(Stream.LATENT, substep))
        mlp.forward_into_gpu(spec_G, state.theta_G, buf["z"], buf["hidden_G"], buf["x_fake"])
        noise.noisy_discriminator_input_into_gpu(
            buf["x_noisy"],
            buf["x_real"],
            buf["x_fake"],
            self.sigma,
            key,
            step,
            stream_id(Stream.REAL_NOISE, substep),
            stream_id(Stream.FAKE_NOISE, substep),
        )
        mlp.forward_into_gpu(spec_D, state.theta_D, buf["x_noisy"], buf["hidden_D"], buf["logits"])
        loss.discriminator_loss_into_gpu(
            buf["loss_D"],
            buf["dlogits"],
            buf["D_real"],
            buf["D_fake"],
            buf["logits"],
            base.real_target,
            base.label_flip,
            key,
            step,
            stream_id(Stream.LABEL_FLIP, substep),
        )
        mlp.backward_into_gpu(
            spec_D,
            state.theta_D,
            [buf["x_noisy"], *buf["hidden_D"]],
            buf["dlogits"],
            buf["dtheta_D"],
            buf["dx"],
            self.scratch,
        )
        optim.adam_step_into_gpu(
            state.theta_D,
            buf["dtheta_D"],
            state.adam_D.m,
            state.adam_D.v,
            *adam,
            self.corrections[substep],
        )

    def _launch_generator_substep(self, substep: int, buf: dict) -> None:
        base, state, spec_G, spec_D = self.config.base, self.state, self.spec_G, self.spec_D
        key, step = state.keys, self.step_word
        adam = (base.lr, base.beta1, base.beta2, optim.EPS)
        philox.normal_into_gpu(buf["z"], key, step, stream_id(Stream.LATENT, substep))
        mlp.forward_into_gpu(spec_G, state.theta_G, buf["z"], buf["hidden_G"], buf["x_fake"])
        noise.add_instance_noise_into_gpu(
            buf["x_fake_noisy"],
            buf["x_fake"],
            self.sigma,
            key,
            step,
            stream_id(Stream.FAKE_NOISE, substep),
        )
        mlp.forward_into_gpu(
            spec_D, state.theta_D, buf["x_fake_noisy"], buf["hidden_D"], buf["logits"]
        )
        loss.generator_loss_into_gpu(
            buf["loss_G"], buf["dlogits"], buf["logits"][:, :, 0], base.generator_loss
        )
        mlp.backward_into_gpu(
            spec_D,
            state.theta_D,
            [buf["x_fake_noisy"], *buf["hidden_D"]],
            buf["dlogits"],
            None,
            buf["dx_fake"],
            self.scratch,
        )
        mlp.backward_into_gpu(
            spec_G,
            state.theta_G,
            [buf["z"], *buf["hidden_G"]],
            buf["dx_fake"],
            buf["dtheta_G"],
            buf["dz"],
            self.scratch,
        )
        optim.adam_step_into_gpu(
            state.theta_G,
            buf["dtheta_G"],
            state.adam_G.m,
            state.adam_G.v,
            *adam,
            self.corrections[substep],
        )

    def _capture(self) -> None:
        import cupy

        try:
            with self.stream:
                self.stream.begin_capture()
                try:
                    self._launch_all()
                finally:
                    graph = self.stream.end_capture()
            self.graph = graph
        except Exception as error:  # whatever broke the capture, the eager path still works
            print(f"CUDA graph capture failed, running the step eagerly: {error!r}")
            self.use_graph = False
            self.stream = cupy.cuda.Stream(non_blocking=False)

    def _write_control(self, step: int) -> None:
        base, state = self.config.base, self.state
        self.control_host[0] = step
        self.control_host[2:].view(np.float64).reshape(-1, 2)[:] = optim.step_corrections(
            base.beta1, base.beta2, base.d_steps, state.adam_D.t, state.adam_G.t
        )
        self.control.set(self.control_host, stream=self.stream)
        sigma = self.config.sigma_at(step)
        if self.sigma_host is None or not np.array_equal(sigma, self.sigma_host):
            self.sigma.set(sigma, stream=self.stream)
            self.sigma_host = sigma

    def __call__(self, step: int) -> tuple[dict, dict]:
        self._write_control(step)
        if self.graph is not None:
            self.graph.launch(self.stream)
        else:
            with self.stream:
                self._launch_all()
            if self.use_graph:
                self._capture()
        self.state.adam_D.t += self.config.base.d_steps
        self.state.adam_G.t += 1
        return {"step": step, **self.record}, self.intermediates

    def _record(self) -> dict:
        last, g = self.d_buffers[-1], self.g_buffers
        return {
            "sigma": self.sigma,
            "loss_D": last["loss_D"],
            "loss_G": g["loss_G"],
            "D_real": last["D_real"],
            "D_fake": last["D_fake"],
        }

    def _intermediates(self) -> Intermediates:
        """The buffers as fast.gan's substep records, named by its table (no penalty runs
        on the GPU)."""
        d_substeps = [
            DiscriminatorSubstep(
                x_real=buf["x_real"],
                z=buf["z"],
                x_fake=buf["x_fake"],
                x_noisy=buf["x_noisy"],
                logits=buf["logits"][:, :, 0],
                dlogits=buf["dlogits"][:, :, 0],
                loss_D=buf["loss_D"],
                penalty_D=None,
                dtheta_D=buf["dtheta_D"],
            )
            for buf in self.d_buffers
        ]
        g = self.g_buffers
        g_substep = GeneratorSubstep(
            z=g["z"],
            x_fake=g["x_fake"],
            x_fake_noisy=g["x_fake_noisy"],
            logits=g["logits"][:, :, 0],
            dlogits=g["dlogits"][:, :, 0],
            loss_G=g["loss_G"],
            dx_fake=g["dx_fake"],
            dtheta_G=g["dtheta_G"],
        )
        return Intermediates(self.config.base, False, lambda: (d_substeps, g_substep))
