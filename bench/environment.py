"""What the numbers depend on, for the --json record: the processor, the git commit, the
library versions, the BLAS and its OPENBLAS_* settings, the configuration and its GEMM FLOPs
per step; on a GPU the CuPy and CUDA versions (its name, FP32 peak and how that was obtained
are in each GPU row: bench/gpu.py).
"""

import os
import platform
import subprocess

import numba
import numpy as np

from bench.steps import gemm_flops_per_gan_step


def environment(config, gpu: bool) -> dict:
    """What the numbers depend on: the machine, the code, the libraries, the BLAS and its
    settings, and with `gpu` CuPy's and CUDA's versions."""
    import scipy

    env = {
        "processor": platform.processor() or platform.machine(),
        "git_commit": _git_commit(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "blas": _blas_name(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
        "config": vars(config),
        "gemm_flops_per_gan_step": gemm_flops_per_gan_step(config),
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:  # not Linux
        names = []
    env["cpu"] = names[0] if names else platform.processor()
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
    except ImportError:
        env["torch"] = None
    try:  # the peers' versions (bench/peers.py), where installed
        import jax

        env["jax"] = jax.__version__
    except ImportError:
        env["jax"] = None
    if gpu:
        import cupy

        env["cupy"] = cupy.__version__
        env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        env["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
    return env


def _git_commit() -> str | None:
    """The short commit of the checkout this file is in; None without git or a checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
    except OSError:  # no git
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _blas_name() -> dict:
    """The BLAS NumPy's matmul calls (the reference) and the one Numba's np.dot calls
    (SciPy's, the fast CPU path)."""
    import scipy

    def name(config: dict) -> str:
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()

    return {
        "numpy": name(np.show_config(mode="dicts")),
        "scipy (numba np.dot)": name(scipy.show_config(mode="dicts")),
    }
