"""Tests of fast/device.py's ThreadChoice, the clock-driven choice of how many threads a
single GAN's fused CPU step runs on: it keeps the faster count, probes the other as soon as
the machine's load moves the step's mean time, and at doubling intervals in any case."""

import math

from fast import device

WINDOW, PERIOD = device.ThreadChoice.WINDOW, device.ThreadChoice.PERIOD
PERIOD_ONE = device.ThreadChoice.PERIOD_ONE


class Machine:
    """A ThreadChoice fed step times: one thread takes `one` seconds, four take `four`."""

    def __init__(self, one: float, four: float):
        self.choice, self.one, self.four = device.ThreadChoice(4), one, four

    def run(self, steps: int) -> list[int]:
        taken = []
        for _ in range(steps):
            threads = self.choice.threads()
            self.choice.record(threads, self.one if threads == 1 else self.four)
            taken.append(threads)
        return taken


def test_the_first_window_is_followed_by_a_probe_and_the_faster_count_is_kept():
    # step 0 compiles (forgotten), a window on four, a probe (a window on one, then one
    # on four), then the faster; quietly, one thread's steps lose once they have taken
    # longer than four's window, and the probe stops there
    quiet = Machine(one=1.0, four=0.6)
    losing = int(WINDOW * 0.6 / 1.0) + 1
    assert quiet.run(1 + 4 * WINDOW) == [4] * (1 + WINDOW) + [1] * losing + [4] * (
        3 * WINDOW - losing
    )
    busy = Machine(one=1.0, four=3.0)
    assert (
        busy.run(1 + 4 * WINDOW) == [4] * (1 + WINDOW) + [1] * WINDOW + [4] * WINDOW + [1] * WINDOW
    )


def steps_to_notice(before: float, after: float) -> int:
    """How many steps of `after` seconds, following steps of `before`, move the window's
    mean by more than CHANGE times."""
    change = device.ThreadChoice.CHANGE
    for k in range(1, WINDOW + 1):
        mean = ((WINDOW - k) * before + k * after) / WINDOW
        if max(mean / before, before / mean) > change:
            return k
    raise AssertionError("no change to notice")


def test_a_new_load_on_every_thread_is_answered_at_once():
    machine = Machine(one=1.0, four=0.6)
    machine.run(300)  # steady: the next periodic probe is far off
    machine.four = 3.0  # another process takes a core: four threads stall
    taken = machine.run(2 * WINDOW + 1)
    slow = steps_to_notice(0.6, 3.0)  # then a probe: a window on one, a fresh one on four
    assert taken[: slow + WINDOW] == [4] * slow + [1] * WINDOW and machine.choice.chosen == 1


def test_on_one_thread_only_the_interval_brings_a_probe():
    # Beside busy processes one thread's window means move by more than CHANGE by
    # themselves (the scheduler's slices), so they do not call for a probe: only the
    # interval does, and its probes of four (slower still) stop early.
    machine = Machine(one=1.0, four=3.0)
    machine.run(2000)  # settled on one, its interval PERIOD_ONE
    taken = []
    for step in range(3 * PERIOD_ONE):
        machine.one = 2.0 if (step // WINDOW) % 2 else 1.0  # each window twice or half the last
        taken += machine.run(1)
    probes = [i for i in range(1, len(taken)) if taken[i] == 4 and taken[i - 1] == 1]
    gaps = [b - a for a, b in zip(probes, probes[1:], strict=False)]
    assert gaps and min(gaps) > PERIOD_ONE and machine.choice.chosen == 1


def test_a_change_one_thread_does_not_feel_is_found_within_its_period():
    # On one thread beside one busy process the time is its idle time: only the periodic
    # probe finds that four threads are faster again.
    machine = Machine(one=1.0, four=3.0)
    machine.run(300)
    assert machine.choice.chosen == 1
    machine.four = 0.6
    taken = machine.run(PERIOD_ONE + 2 * WINDOW)
    assert taken.index(4) <= PERIOD_ONE and machine.choice.chosen == 4


def test_a_steady_machine_is_probed_at_doubling_intervals_up_to_a_period():
    machine = Machine(one=1.0, four=0.6)
    taken = []
    for step in range(5000):  # jitter: means well within CHANGE
        machine.four = 0.6 * (1.1 if step % 2 else 1 / 1.1)
        taken += machine.run(1)
    probes = [i for i in range(1, len(taken)) if taken[i] == 1 and taken[i - 1] == 4]
    # a probe: steps on one until they have taken longer than four's last window (five
    # steps of 1.0 s against eight of 0.6 s on average); then `interval` steps on four
    lengths = [taken.index(4, start) - start for start in probes[:-1]]
    assert set(lengths) == {math.ceil(WINDOW * 0.6 * (1.1 + 1 / 1.1) / 2)}
    gaps = [b - a - n for a, b, n in zip(probes, probes[1:], lengths, strict=False)]
    interval, expected = device.ThreadChoice.FIRST_INTERVAL, []
    for _ in gaps:
        interval = min(2 * interval, device.ThreadChoice.PERIOD)
        expected.append(interval)
    assert probes[0] == 1 + WINDOW and gaps == expected, (probes, gaps)
    assert expected[-1] == device.ThreadChoice.PERIOD


def test_a_losing_probe_stops_once_it_has_taken_longer_than_the_chosen_window():
    # Beside busy processes: one thread chosen, four threads three times slower. A probe
    # of four stops after the steps that take longer than one's window of WINDOW steps.
    machine = Machine(one=1.0, four=3.0)
    machine.run(300)
    taken = machine.run(PERIOD_ONE + WINDOW)
    start = taken.index(4)
    assert taken[start:].index(1) == WINDOW // 3 + 1 and machine.choice.chosen == 1


def test_one_thread_available_means_one_thread():
    lonely = device.ThreadChoice(1)
    for _ in range(3):
        assert lonely.threads() == 1
        lonely.record(1, 1.0)


def test_steps_timed_as_zero_seconds_are_taken_in_stride():
    machine = Machine(one=0.0, four=0.0)  # a coarse clock
    assert set(machine.run(200)) <= {1, 4}
