"""Ctrl-C and SIGTERM as a request to stop between two training steps, so that the state
saved (run.py's checkpoint, a sweep block's) is always a whole step's."""

import signal


class StopRequest:
    """While it is installed, Ctrl-C (SIGINT) and SIGTERM no longer stop the process: they
    set `signum`, which the training loop reads between steps. Further signals change
    nothing, so the outputs are written whole."""

    def __init__(self):
        self.signum = None
        self.previous = {s: signal.signal(s, self.ask) for s in (signal.SIGINT, signal.SIGTERM)}

    def ask(self, signum, frame) -> None:
        self.signum = self.signum or signum

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
