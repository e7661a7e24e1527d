"""How a row is timed: a Row is one implementation's step, the threads it is given and the
figures it gets; warmed_up prepares it, run_rounds times every row, interleaved, quiet and
(--busy N) beside N processes of its own that keep the cores busy.

Every row is built and warmed up first (JIT compilation, caches, cuBLAS handles, CUDA graph
capture), outside every figure. Then come R rounds: in round r every row has one turn, the
rows in their order rotated by r and, in odd rounds, reversed, so that each row (but a
round's first) follows the row listed before it in even rounds and the one listed after it
in odd ones. A turn sets the row's threads; a CPU row then waits SETTLE_S for the previous
row's idle threads to stop spinning and takes one untimed step, a GPU row takes one untimed
block; then N blocks of consecutive steps are timed, the device synchronised before each
reading of the clock; the turn's figure is its median block.

Threads: each row sizes the pools it uses before every turn and records what it set (the
table's threads column; "BLAS x? (not found)" where the OpenBLAS to size could not be
found): the reference NumPy's OpenBLAS, one thread per core; the fast CPU path one GAN per
thread (the fused step's GANs handed out one at a time, the composed step's and
matmuls-only's split over Numba's threads), or at P = 1 one GAN's device.SHARES parts on as
many, each GEMM on SciPy's OpenBLAS with one thread.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numba
import numpy as np

from fast import device

CORES = os.cpu_count() or 1
# OpenBLAS's idle workers spin for 2**28 cycles (OPENBLAS_THREAD_TIMEOUT's default, about
# 0.1 s) before they sleep, libgomp's (torch's) for 300,000 spins: a CPU row timed straight
# after another would share the cores with them. GPU rows do not wait: they use neither
# pool (though the thread that launches their work may still meet a CPU row's spin).
SETTLE_S = 0.25
# A reactive row needs steps to see the load its turn runs under: ThreadChoice answers a
# new load within a few steps, and the end of one within its PERIOD_ONE (200) steps, 20
# blocks of a fast row.
SETTLE_BLOCKS = 25


def synchronize(where: str) -> None:
    if where == "gpu":
        import cupy

        cupy.cuda.runtime.deviceSynchronize()


@dataclass
class Row:
    """One implementation to time: step(s) advances it by one step (s its index), a timed
    block is `block` steps of `flops` GEMM FLOPs each, and set_threads() sizes the thread
    pools it uses before each of its turns and returns what it set, kept in `threads`.
    `fields` (variant, adam, shape, gpu) go into its results; `seconds` gets each round's
    seconds per step, and busy_seconds the same beside --busy's processes."""

    impl: str
    device: str
    population: int
    step: Callable[[int], object]
    block: int
    flops: float
    set_threads: Callable[[], str]
    fields: dict = field(default_factory=dict)
    threads: str = ""
    next_step: int = 0
    seconds: list[float] = field(default_factory=list)
    busy_seconds: list[float] = field(default_factory=list)  # the same, beside --busy N

    def run(self, steps: int) -> None:
        """`steps` consecutive steps, the device synchronised after the last."""
        for _ in range(steps):
            self.step(self.next_step)
            self.next_step += 1
        synchronize(self.device)


def warmed_up(row: Row, steps: int) -> Row:
    """The row after `steps` untimed steps (JIT compilation, cuBLAS handles, caches)."""
    row.threads = row.set_threads()
    row.run(steps)
    return row


def time_turn(row: Row, repeats: int) -> float:
    """One round's figure for a row: the median over `repeats` blocks of the mean seconds
    per step of a block, after its threads are set and, on the CPU, SETTLE_S and
    SETTLE_BLOCKS untimed blocks (the fused step's thread choice answers a change of the
    machine's load within them: fast.device.ThreadChoice); on the GPU one untimed block (a
    GPU left idle by the rows before may take more than one step to come back to speed)."""
    row.threads = row.set_threads()
    if row.device == "gpu":
        row.run(row.block)
    else:
        time.sleep(SETTLE_S)
        row.run(SETTLE_BLOCKS * row.block)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        row.run(row.block)
        times.append((time.perf_counter() - start) / row.block)
    return float(np.median(times))


def run_rounds(rows: list[Row], rounds: int, repeats: int, busy: int = 0) -> None:
    """Every row once per round, in the order rotated by the round and reversed in odd
    rounds: each row (but a round's first) follows the row listed before it in even rounds
    and the one listed after it in odd ones. With busy > 0 every row has a second turn in
    each round, in the same order, while `busy` CPU-bound processes run (row.busy_seconds):
    a row's loaded and quiet figures are always from the same round."""
    for r in range(rounds):
        order = rows[r % len(rows) :] + rows[: r % len(rows)]
        order = order[::-1] if r % 2 else order
        for row in order:
            row.seconds.append(time_turn(row, repeats))
        if busy:
            with busy_processes(busy):
                for row in order:
                    row.busy_seconds.append(time_turn(row, repeats))
        print(f"round {r + 1} of {rounds} done", file=sys.stderr, flush=True)


@contextmanager
def busy_processes(n: int):
    """n processes of the benchmark's own, each spinning on one core until the context
    ends: the load of a busy machine (a build, a test suite, another training run)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(SETTLE_S)  # every spinner running before the first timed step
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def reference_threads() -> str:
    """NumPy's OpenBLAS (the reference's, a copy apart from SciPy's), one thread per core."""
    if device.set_blas_threads(CORES, package="numpy"):
        return f"NumPy BLAS x{CORES}"
    return "NumPy BLAS x? (not found)"


def fast_threads(threading: str) -> str:
    """The fast CPU path's threading, and SciPy's OpenBLAS, which Numba's np.dot calls, at
    one thread: 'gans', one GAN per Numba thread (P > 1); 'handed', the fused step's
    population, its GANs handed out one at a time to as many threads; 'parts', one GAN's
    device.SHARES parts on as many Numba threads (P = 1); 'one', the calling thread alone.
    Numba's count is left as Numba starts it: nothing in this process changes it."""
    blas = "BLAS x1" if device.set_blas_threads(1) else "BLAS x? (not found)"
    threads = numba.get_num_threads()
    if threading == "gans":
        return f"Numba x{threads}, {blas}"
    if threading == "handed":
        return f"x{threads} taking GANs, {blas}"
    if threading == "parts":
        return f"Numba x{min(threads, device.SHARES)} (parts), {blas}"
    return f"1 thread, {blas}"


def gpu_threads() -> str:
    """A GPU row has no thread pool of its own to size."""
    return "GPU"
