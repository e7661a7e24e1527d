"""Tests of fast/device.py's ThreadChoice, the clock-driven choice of how many threads a
single GAN's fused CPU step runs on: it keeps the faster count, probes the other as soon as
the machine's load moves the step's mean time, and at doubling intervals in any case."""

from fast import device

WINDOW, PERIOD = device.ThreadChoice.WINDOW, device.ThreadChoice.PERIOD


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
    # on four), then the faster
    quiet = Machine(one=1.0, four=0.6)
    assert quiet.run(1 + 4 * WINDOW) == [4] * (1 + WINDOW) + [1] * WINDOW + [4] * (2 * WINDOW)
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


def test_a_change_of_load_is_answered_at_once():
    machine = Machine(one=1.0, four=0.6)
    machine.run(300)  # steady: the next periodic probe is far off
    machine.four = 3.0  # another process takes a core: four threads stall
    taken = machine.run(2 * WINDOW + 1)
    slow = steps_to_notice(0.6, 3.0)  # then a probe: a window on one, a fresh one on four
    assert taken[: slow + WINDOW] == [4] * slow + [1] * WINDOW and machine.choice.chosen == 1
    machine.run(300)
    machine.one, machine.four = 0.5, 0.3  # the load is gone, and one thread feels it too
    taken = machine.run(2 * WINDOW + 4)
    fast = steps_to_notice(1.0, 0.5)
    assert taken[: fast + WINDOW] == [1] * fast + [4] * WINDOW and machine.choice.chosen == 4


def test_a_change_one_thread_does_not_feel_is_found_within_its_period():
    # On one thread beside one busy process the time is its idle time: only the periodic
    # probe finds that four threads are faster again.
    machine = Machine(one=1.0, four=3.0)
    machine.run(300)
    assert machine.choice.chosen == 1
    machine.four = 0.6
    taken = machine.run(device.ThreadChoice.PERIOD_ONE + 2 * WINDOW)
    assert taken.index(4) <= device.ThreadChoice.PERIOD_ONE and machine.choice.chosen == 4


def test_a_steady_machine_is_probed_at_doubling_intervals_up_to_a_period():
    machine = Machine(one=1.0, four=0.6)
    taken = []
    for step in range(5000):  # jitter: means well within CHANGE
        machine.four = 0.6 * (1.1 if step % 2 else 1 / 1.1)
        taken += machine.run(1)
    probes = [i for i in range(1, len(taken)) if taken[i] == 1 and taken[i - 1] == 4]
    # a probe: a window on one, a window on four; then `interval` steps on four
    gaps = [b - a - 2 * WINDOW for a, b in zip(probes, probes[1:], strict=False)]
    interval, expected = device.ThreadChoice.FIRST_INTERVAL, []
    for _ in gaps:
        interval = min(2 * interval, device.ThreadChoice.PERIOD)
        expected.append(interval)
    assert probes[0] == 1 + WINDOW and gaps == expected, (probes, gaps)
    assert expected[-1] == device.ThreadChoice.PERIOD


def test_one_thread_available_means_one_thread():
    lonely = device.ThreadChoice(1)
    for _ in range(3):
        assert lonely.threads() == 1
        lonely.record(1, 1.0)


def test_steps_timed_as_zero_seconds_are_taken_in_stride():
    machine = Machine(one=0.0, four=0.0)  # a coarse clock
    assert set(machine.run(200)) <= {1, 4}
