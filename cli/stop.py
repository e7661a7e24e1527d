"""Ctrl-C and SIGTERM as a request to stop between two training steps, so that the state
saved (run.py's checkpoint, a sweep block's) is always a whole step's.

The first signal is remembered, never replaced: Ctrl-C then SIGTERM is a Ctrl-C (exit 130).
Where the next step boundary is far off (compiling the kernels, writing the outputs) the
program sets `notice`, which the first signal prints at once. A second signal ends the
process there and then: at_once(the first signal's number) says so and calls os._exit.
Raising an exception instead would not do: one raised where the program is can land in a
ctypes callback or a __del__ (Numba's compiler has both), which print it and carry on.
Every file but history.csv is written atomically (cli/files.py), and a row of history.csv
cut short is logged again on resuming, so what an exit at any point leaves can be
finished.
"""

import os
import signal
from collections.abc import Callable


class StopRequest:
    """While it is installed, Ctrl-C (SIGINT) and SIGTERM no longer stop the process: the
    first sets `signum`, which the training loop reads between steps, and says `notice` on
    stderr if one is set. A second calls at_once(signum), which must end the process."""

    def __init__(self, at_once: Callable[[int], None]):
        self.signum, self.notice, self.at_once = None, None, at_once
        self.previous = {s: signal.signal(s, self.ask) for s in (signal.SIGINT, signal.SIGTERM)}

    def ask(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            if self.notice:  # os.write: the main thread may be inside a print to stderr
                os.write(2, f"{self.notice}\n".encode())
        else:
            self.at_once(self.signum)

    def noticed(self, records, notice: str):
        """records, with notice said at once by a first signal that comes before the first
        of them arrives (the first step compiles the kernels)."""
        self.notice = notice
        for record in records:
            self.notice = None
            yield record

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
