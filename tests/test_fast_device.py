"""Tests of fast/device.py's ThreadChoice, the clock-driven choice of how many threads a
single GAN's fused CPU step runs on: every thread while they are faster, one thread once
they are not, with a probe on one thread at the start of every period."""

from fast import device


def test_the_thread_choice_keeps_every_thread_only_while_they_are_faster():
    window, period = device.ThreadChoice.WINDOW, device.ThreadChoice.PERIOD
    choice = device.ThreadChoice(4)

    def run(steps: int, seconds_on_four: float) -> list[int]:
        taken = []
        for _ in range(steps):
            threads = choice.threads()
            choice.record(threads, 1.0 if threads == 1 else seconds_on_four)
            taken.append(threads)
        return taken

    # step 0 (it may compile) on every thread, then a probe on one, then every thread
    assert run(period, 0.5) == [4] + [1] * window + [4] * (period - 1 - window)
    # slower on four: back to one thread once the last `window` steps on four say so
    assert run(period, 5.0) == [4] + [1] * window + [4] * window + [1] * (period - 1 - 2 * window)
    # each period tries every thread again, and up to 1.5 times slower keeps them
    assert run(period, 1.4)[window + 1 :] == [4] * (period - 1 - window)
    assert run(period, 1.6)[window + 1 :] == [4] * window + [1] * (period - 1 - 2 * window)
    assert set(run(10, 0.5)) == {1, 4}
    lonely = device.ThreadChoice(1)
    assert [lonely.threads() for _ in range(3)] == [1, 1, 1]
