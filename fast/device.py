"""Where arrays live: the CPU (NumPy) or a CUDA GPU (CuPy), and moving them between the two.

CuPy is optional and imported lazily, on the first question about the GPU: without it (or
without a CUDA device) everything in fast/ runs on the CPU through Numba. Every public
function in fast/ dispatches on where its first array lives, `on_gpu(x)`.

Contract: `resolve` maps 'cpu' | 'gpu' | 'auto' to 'cpu' | 'gpu'; 'auto' picks the GPU when
CuPy imports and sees a CUDA device, and 'gpu' without one raises DeviceUnavailableError.

How many threads run on the CPU: a GAN's work comes in SHARES parts (`share`), the same bits
on any number of threads; `compiled_twice` compiles a GAN's function for both ways of running
it, ThreadChoice picks the threads of a single GAN's step by the clock, and
`single_threaded_blas` keeps BLAS off the threads Numba runs.
"""

import collections
import functools
import pathlib

import numpy as np
from numba import njit

DEVICES = ("cpu", "gpu", "auto")


class DeviceUnavailableError(RuntimeError):
    """A GPU was asked for, but CuPy or a CUDA device is missing."""


@functools.cache
def _cupy():
    """The cupy module when it imports and sees at least one CUDA device, else None."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:  # an ImportError, or a CUDA runtime error without a driver or device
        return None
    return None


def gpu_available() -> bool:
    return _cupy() is not None


def resolve(name: str) -> str:
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {name!r}")
    if name == "auto":
        return "gpu" if gpu_available() else "cpu"
    if name == "gpu" and not gpu_available():
        raise DeviceUnavailableError(
            "gpu needs CuPy and a CUDA device, and none was found (use cpu or auto)"
        )
    return name


def on_gpu(x) -> bool:
    # A NumPy array (or scalar) never needs CuPy imported to answer.
    if isinstance(x, np.ndarray | np.generic):
        return False
    cupy = _cupy()
    return cupy is not None and isinstance(x, cupy.ndarray)


def array_module(x):
    """numpy or cupy, whichever holds x."""
    return _cupy() if on_gpu(x) else np


def to_device(array, device: str):
    """The array on 'cpu' or 'gpu' (a copy only when it has to move)."""
    if resolve(device) == "gpu":
        return _cupy().asarray(array)
    return to_host(array)


def to_host(array) -> np.ndarray:
    return _cupy().asnumpy(array) if on_gpu(array) else np.asarray(array)


# On the CPU one GAN's batch passes, random numbers and Adam run in SHARES parts (a
# penalty's passes excepted): as a loop inside the population's kernels, on SHARES threads
# in the fused step at P = 1. A part's GEMMs have the same shapes either way, so a GAN's
# bits never depend on how many threads ran it (OpenBLAS's rounding can depend on a GEMM's
# shape: rows cut otherwise would change it).
SHARES = 2


@njit(error_model="numpy")
def share(n, part):
    """(first, stop): part `part` of SHARES near-equal parts of range(n)."""
    return n * part // SHARES, n * (part + 1) // SHARES


def compiled_twice(function) -> tuple:
    """(serial, threaded): a GAN's function compiled as a plain Numba function, its prange
    loops plain loops (what each of a population's threads runs), and as a parallel one
    whose prange loops, and nothing else, run on Numba's threads (its other rewrites would
    turn array expressions into parallel regions of their own). Only the threaded one is
    cached: Numba names a cache file by the Python function alone."""
    rewrites = ("comprehension", "reduction", "inplace_binop", "setitem", "numpy", "stencil")
    prange_only = {"prange": True, "fusion": False} | dict.fromkeys(rewrites, False)
    serial = njit(error_model="numpy")(function)
    threaded = njit(parallel=prange_only, cache=True, error_model="numpy")(function)
    return serial, threaded


TINY_SECONDS = 1e-9  # a step's mean time is at least this: a clock that says 0 divides by none


def _mean(window) -> float:
    """A window's mean step time, in seconds, at least TINY_SECONDS."""
    return max(sum(window) / len(window), TINY_SECONDS)


class ThreadChoice:
    """How many threads a single GAN's fused CPU step (fast/fused_step_cpu.py, P = 1) runs its
    SHARES parts on, chosen by the clock. On an idle 2-core machine the step is 1.7x
    faster on two threads than on one, but while other processes hold the cores every
    parallel loop waits for its descheduled part: beside one CPU-bound process most of
    two threads' steps still take their idle time, but every few steps one waits
    milliseconds and every few dozen a whole scheduler slice (0.1 s), while one thread
    keeps its idle rate (fast/README.md). So the choice follows the step's mean time,
    not a median that those stalls would not move. It runs on the chosen count and
    *probes* when, on every thread, the mean of the last WINDOW steps moves by more than
    CHANGE times from what it was after the last probe (the load changed), and in any
    case `interval` steps after the last probe: a change one thread does not feel (it runs
    as fast beside one busy process as alone), or cannot tell (beside three, its window
    means move that much by themselves, and probing on each cost it a third of its rate).
    A probe runs WINDOW steps on the other count, then WINDOW on the chosen one, so that
    both are timed under the same load, and keeps the count whose window took less time.
    It stops early, keeping the chosen count, once the other count's steps have taken
    longer than the chosen count's last window before the probe: they cannot win, and
    beside busy processes the probe's two-thread steps are what it costs. The interval
    starts at FIRST_INTERVAL, doubles after each probe that confirms the choice, up to
    PERIOD on every thread (where a new load shows in the step's time) and PERIOD_ONE on
    one, and starts again after a switch. The first probe comes after the first WINDOW
    steps. Either way the step computes the same bits."""

    FIRST_INTERVAL, PERIOD, PERIOD_ONE, WINDOW, CHANGE = 10, 1000, 200, 8, 1.3

    def __init__(self, most: int):
        self.most, self.chosen, self.probing = most, most, False
        self.seconds = {1: collections.deque(maxlen=self.WINDOW)}
        self.seconds[most] = collections.deque(maxlen=self.WINDOW)
        self.typical = None  # the chosen count's mean step after the last probe (its window)
        self.bar = None  # in a probe: the seconds of the chosen count's window before it
        self.interval = self.FIRST_INTERVAL
        self.since_probe = self.interval  # so that the first full window probes
        self.first_step_done = False  # the first step compiles: a time to forget

    def _other(self) -> int:
        return 1 if self.chosen == self.most else self.most

    def threads(self) -> int:
        """The threads for the next step."""
        if self.probing and len(self.seconds[self._other()]) < self.WINDOW:
            return self._other()
        return self.chosen

    def record(self, threads: int, seconds: float) -> None:
        """The step just taken on `threads` took `seconds`."""
        if self.most == 1 or not self.first_step_done:
            self.first_step_done = True
            return
        self.seconds[threads].append(seconds)
        if self.probing:
            other = self.seconds[self._other()]
            if len(other) < self.WINDOW and sum(other) > self.bar:
                self._probed(other_won=False)
                self.typical = None  # the chosen count's next window sets it
            elif all(len(window) == self.WINDOW for window in self.seconds.values()):
                self._probed(other_won=_mean(other) < _mean(self.seconds[self.chosen]))
                self.typical = _mean(self.seconds[self.chosen])
            return
        self.since_probe += 1
        recent = self.seconds[self.chosen]
        if len(recent) < self.WINDOW:
            return
        now = _mean(recent)
        self.typical = self.typical or now
        # On one thread, beside busy processes, a window's mean moves this much by itself.
        on_most = self.chosen == self.most
        moved = on_most and max(now / self.typical, self.typical / now) > self.CHANGE
        if moved and self.since_probe >= self.WINDOW or self.since_probe >= self.interval:
            self.probing, self.bar = True, sum(recent)
            for window in self.seconds.values():
                window.clear()

    def _probed(self, other_won: bool) -> None:
        """A probe's end: the other count is chosen if it won, and the interval starts
        again, or else doubles."""
        self.probing, self.since_probe = False, 0
        if other_won:
            self.chosen, self.interval = self._other(), self.FIRST_INTERVAL
        else:
            longest = self.PERIOD if self.chosen == self.most else self.PERIOD_ONE
            self.interval = min(2 * self.interval, longest)


@functools.cache
def single_threaded_blas() -> bool:
    """Give the BLAS that Numba's np.dot calls (SciPy's OpenBLAS, through
    scipy.linalg.cython_blas) one thread, once per process; False where it cannot be found.

    The fast CPU path runs one GAN per core itself. A multithreaded GEMM called from several
    threads at once is several times slower than a serial one, and even for a single
    GAN, OpenBLAS's threads (like any second thread) lose whole scheduler time slices on a
    loaded machine: measured here, a P = 1 step ran 8 steps/s with two BLAS threads on a
    busy 2-core machine and 285 with one. This also applies to scipy.linalg in the process.
    """
    return set_blas_threads(1)


def set_blas_threads(n: int, package: str = "scipy") -> bool:
    """Give the OpenBLAS bundled with `package` n threads, every time it is called (unlike
    single_threaded_blas, so that a caller that changes the count can set it back); False
    where that OpenBLAS cannot be found. package: 'scipy' (the BLAS Numba's np.dot calls)
    or 'numpy' (the one NumPy's matmul calls, a separate copy, built with 64-bit integers,
    hence the 64_ suffix of its symbols)."""
    import ctypes
    import glob
    import importlib
    import os

    module = importlib.import_module(package)
    folder = os.path.join(os.path.dirname(module.__file__), "..", f"{package}.libs")
    for path in glob.glob(os.path.join(folder, "*openblas*")):
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("", "64_"):
                if hasattr(lib, f"{prefix}_set_num_threads{suffix}"):
                    getattr(lib, f"{prefix}_set_num_threads{suffix}")(n)
                    return True
    return False


CUBLAS_WORKSPACE_BYTES = 32 * 1024 * 1024  # NVIDIA's recommended cuBLAS workspace on Hopper


class _Cublas:
    """libcublas called through ctypes, with a handle and a workspace of our own.

    CuPy's cuBLAS wrappers refuse to run while a stream is being captured into a CUDA graph
    ("calling cuBLAS API during stream capture is currently unsupported"), although cuBLAS
    itself supports capture once its handle has a user-provided workspace (cuBLAS docs,
    "CUDA Graphs support"): without that, a captured step could not contain its GEMMs. The
    library is the one CuPy already loaded, found by path in /proc/self/maps.
    """

    def __init__(self):
        import ctypes

        from cupy_backends.cuda.libs import cublas  # noqa: F401  (loads libcublas)

        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/libcublas.so" in line}
        if len(paths) != 1:
            raise RuntimeError(f"expected one libcublas loaded by CuPy, found {sorted(paths)}")
        c = ctypes
        self.lib = lib = c.CDLL(paths.pop())
        lib.cublasCreate_v2.argtypes = [c.POINTER(c.c_void_p)]
        lib.cublasSetWorkspace_v2.argtypes = [c.c_void_p, c.c_void_p, c.c_size_t]
        lib.cublasSetStream_v2.argtypes = [c.c_void_p, c.c_void_p]
        lib.cublasSgemmStridedBatched.argtypes = [
            c.c_void_p, c.c_int, c.c_int, c.c_int, c.c_int, c.c_int,
            c.POINTER(c.c_float), c.c_void_p, c.c_int, c.c_longlong,
            c.c_void_p, c.c_int, c.c_longlong,
            c.POINTER(c.c_float), c.c_void_p, c.c_int, c.c_longlong, c.c_int,
        ]  # fmt: skip
        self.handle = c.c_void_p()
        self._check("cublasCreate_v2", lib.cublasCreate_v2(c.byref(self.handle)))
        # A new handle computes in plain FP32 (no TF32) with host-side alpha and beta.
        self.workspace = _cupy().empty(CUBLAS_WORKSPACE_BYTES, dtype=np.uint8)
        self._check(
            "cublasSetWorkspace_v2",
            lib.cublasSetWorkspace_v2(self.handle, self.workspace.data.ptr, CUBLAS_WORKSPACE_BYTES),
        )
        self.one, self.zero = c.c_float(1.0), c.c_float(0.0)
        self.byref = c.byref

    @staticmethod
    def _check(name: str, status: int) -> None:
        if status != 0:
            raise RuntimeError(f"{name} failed with cuBLAS status {status}")

    def sgemm_strided_batched(
        self, trans_a, trans_b, m, n, k, a, lda, stride_a, b, ldb, stride_b, c, ldc, stride_c,
        batch,
    ) -> None:  # fmt: skip
        """C_i = op(A_i) op(B_i) (column-major, alpha 1, beta 0) for i < batch, on raw
        device pointers, on CuPy's current stream."""
        lib, handle = self.lib, self.handle
        stream = _cupy().cuda.get_current_stream().ptr
        self._check("cublasSetStream_v2", lib.cublasSetStream_v2(handle, stream))
        self._check(
            "cublasSgemmStridedBatched",
            lib.cublasSgemmStridedBatched(
                handle, int(trans_a), int(trans_b), m, n, k, self.byref(self.one),
                a, lda, stride_a, b, ldb, stride_b, self.byref(self.zero),
                c, ldc, stride_c, batch,
            ),
        )  # fmt: skip


@functools.cache
def cublas() -> _Cublas:
    """The process's one cuBLAS binding, created on first use."""
    return _Cublas()


THREADS_PER_BLOCK = 256  # one-thread-per-element kernels; no result depends on it


@functools.cache
def cuda_module(filename: str):
    """The cupy.RawModule of the CUDA C source fast/<filename>, compiled by NVRTC once per
    process, on first use; the sources include fast/philox.cuh from the same folder."""
    folder = pathlib.Path(__file__).parent
    return _cupy().RawModule(
        code=(folder / filename).read_text(), options=(f"--include-path={folder}",)
    )


def launch(filename: str, kernel: str, n: int, *args) -> None:
    """Run a one-thread-per-element kernel of fast/<filename> over n elements on the
    current stream. Scalars must be NumPy scalars of the kernel's C types."""
    blocks = max(1, -(-n // THREADS_PER_BLOCK))
    cuda_kernel(filename, kernel)((blocks,), (THREADS_PER_BLOCK,), args)


@functools.cache
def cuda_kernel(filename: str, kernel: str):
    """The named extern "C" kernel of fast/<filename>, looked up once."""
    return cuda_module(filename).get_function(kernel)


def step_word(step):
    """The step as the (1,) uint32 device array the kernels read it from: a captured CUDA
    graph replays step after step with only that word rewritten. A device array passes
    through."""
    if on_gpu(step):
        return step
    return _cupy().full(1, step, dtype=np.uint32)
