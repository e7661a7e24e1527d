"""Where the first run's seconds go: `python -m bench.compile [--population P] [--penalty
KIND]`.

In a fresh, temporary Numba cache (what the first run of a fresh clone meets), it times the
fast path's first training step of the standard configuration at P GANs (which compiles the
fused step: fast/fused_step_cpu.py) with Numba's compile events recorded, a later step, and
the first and a second evaluation (which compiles the metrics' kernel). For the step it
prints each compiled function's own seconds (its compile less its callees') and its seconds
with its callees, the largest first. Prints, writes nothing; the cache is removed after.
"""

import argparse
import collections
import shutil
import tempfile
import time

import numba
from numba.core import event

from reference.penalty import PENALTIES

SHOWN = 12  # functions listed, the largest first
GAMMA = 0.2  # a penalty's weight (the sweep's R1 0.2): the compiled code does not depend on it


def compile_seconds(records: list) -> tuple[dict, dict]:
    """({function: own seconds}, {function: seconds with its callees}) from numba:compile
    events, which nest: a function's callees compile inside its own compile."""
    own, total, open_ = collections.Counter(), collections.Counter(), []
    for timestamp, record in records:
        name = record.data["dispatcher"].py_func.__qualname__
        if record.is_start:
            open_.append([name, timestamp, 0.0])
            continue
        name, started, in_callees = open_.pop()
        seconds = timestamp - started
        total[name] += seconds
        own[name] += seconds - in_callees
        if open_:
            open_[-1][2] += seconds
    return own, total


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compile", description=__doc__)
    parser.add_argument("--population", type=int, default=1, metavar="P",
                        help="GANs trained at once (default 1)")  # fmt: skip
    parser.add_argument("--penalty", choices=PENALTIES, default="none",
                        help=f"every GAN's gradient penalty, of weight {GAMMA} (default none): "
                             "a penalised step compiles the penalty's passes too")  # fmt: skip
    args = parser.parse_args()
    if args.population < 1:
        parser.error(f"--population: expected at least 1, got {args.population}")
    cache = tempfile.mkdtemp(prefix="numba-cache-")
    numba.config.CACHE_DIR = cache  # before fast/ is imported: its functions cache there
    try:
        started = time.perf_counter()
        from fast import gan as fast_gan
        from fast import metrics as fast_metrics
        from reference.config import GANConfig

        print(f"imports: {time.perf_counter() - started:.1f} s")
        P = args.population
        gamma = 0.0 if args.penalty == "none" else GAMMA
        base = GANConfig(sigma0=0.1, penalty=args.penalty, gamma=gamma)
        population = fast_gan.PopulationConfig.seeded(base, tuple(range(P)), (0.1,) * P)
        state = fast_gan.init_state(population, "cpu")
        with event.install_recorder("numba:compile") as recorder:
            started = time.perf_counter()
            fast_gan.train_step(population, state, 0)
            first = time.perf_counter() - started
        own, total = compile_seconds(recorder.buffer)
        print(f"first step (P = {P}): {first:.1f} s, {len(own)} functions compiled")
        shown = own.most_common(SHOWN)
        width = max(len("function"), *(len(name) for name, _ in shown))
        print(f"  {'function':{width}s} {'own s':>6s} {'with callees s':>15s}")
        for name, seconds in shown:
            print(f"  {name:{width}s} {seconds:6.1f} {total[name]:15.1f}")
        started = time.perf_counter()
        fast_gan.train_step(population, state, 1)
        print(f"a later step: {1e3 * (time.perf_counter() - started):.1f} ms")
        for which in ("first", "second"):
            started = time.perf_counter()
            fast_metrics.evaluate_generator(population, state.theta_G)
            print(f"{which} evaluation: {time.perf_counter() - started:.1f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
