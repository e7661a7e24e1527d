"""fast/fused_step_cpu.py's population threads, which hand a population's GANs out one at
a time: each GAN is stepped once; when a GAN's step raises, no thread is still stepping
when the exception leaves and the GANs no thread took are not stepped; a forked child
makes threads of its own. The GAN step is replaced by a recorder (the real step's bits are
tests/test_fast_gan.py's)."""

import multiprocessing
import threading
import time

import numba
import pytest

from fast import fused_step_cpu

pytestmark = pytest.mark.skipif(numba.get_num_threads() < 2, reason="one Numba thread here")
P = 16
PAUSE_S = 0.01  # a GAN's step, long enough for every thread to take some


class Recorder:
    """A GAN step that records which GANs ran, pausing PAUSE_S; raises on `failing`."""

    def __init__(self, failing: int | None = None):
        self.stepped, self.failing, self.lock = [], failing, threading.Lock()

    def __call__(self, p, *arguments):
        with self.lock:
            self.stepped.append(p)
        if p == self.failing:
            raise RuntimeError(f"GAN {p} failed")
        time.sleep(PAUSE_S)


def test_every_gan_is_stepped_once():
    recorder = Recorder()
    fused_step_cpu._population_step(recorder, P, ())
    assert sorted(recorder.stepped) == list(range(P))


def test_a_failing_gan_stops_the_step_with_no_thread_left_stepping():
    recorder = Recorder(failing=0)  # the calling thread takes GAN 0 or 1 first
    with pytest.raises(RuntimeError, match="failed"):
        fused_step_cpu._population_step(recorder, P, ())
    stepped = list(recorder.stepped)
    time.sleep(10 * PAUSE_S)
    assert recorder.stepped == stepped  # nothing stepped after the exception left
    assert len(stepped) < P  # the GANs no thread had taken were left


def step_in_child(queue) -> None:
    recorder = Recorder()
    fused_step_cpu._population_step(recorder, P, ())
    queue.put(sorted(recorder.stepped))


def test_a_forked_child_steps_with_threads_of_its_own():
    fused_step_cpu._population_step(Recorder(), P, ())  # the parent's threads exist now
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=step_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)  # it hung for good before the pools were remade in a child
    assert child.exitcode == 0, "the child did not finish its population step"
    assert queue.get(timeout=1) == list(range(P))
