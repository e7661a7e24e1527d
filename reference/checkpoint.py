"""What a run leaves on disk so that it can stop at any step and continue bit for bit:
the checkpoint, the history cut at it, atomic writes, and the stop request.

Every random number is a pure function of (seed, step, stream, index) (reference/philox.py),
so the whole state of a run is its parameters, Adam's moments and update counts, and the
next step to take. A checkpoint holds exactly that, for every GAN of a population:

    checkpoint.npz
        format      () int: CHECKPOINT_FORMAT; a file of another format is refused
        step        () int: the next step to run (the steps 0 .. step - 1 are done)
        arguments   () str: the run's arguments as JSON (run.py's, --out excepted; d_steps
                    at least, which checks the Adam counts against the step)
        theta_G, m_G, v_G   (P, n_params_G): G's parameters and Adam moments
        theta_D, m_D, v_D   (P, n_params_D): D's
        t_G, t_D    () int: Adam updates taken so far (shared by the population)

float64 from the reference, float32 from fast/, as the run computed them. `state_arrays`
and `load_state` in reference/gan.py and fast/gan.py convert a state to and from these
arrays.

Every file a run writes whole goes through `write_atomically`: to a hidden temporary name
beside it, then renamed over it, so an interrupted write (a second Ctrl-C, a crash) leaves
the previous file whole or none, never half of one. history.csv is the exception, a log
appended row by row and synced to disk before each checkpoint; a row cut short by a crash
is dropped on resume (open_history). A checkpoint is read only if it is whole, of this
format, its Adam counts belong to its step, and its arrays fit its arguments
(check_shapes).

A stop is asked for by Ctrl-C (SIGINT) or SIGTERM (`StopRequest`) and honoured between two
steps, so that the state saved is always a whole step's. A resumed run's history.csv keeps
the rows logged before its checkpoint and no other (`open_history`): the run logs the rest
again, identically.

Contract: plain NumPy; paths are pathlib.Path.
"""

import csv
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np

CHECKPOINT_FORMAT = 1
NETWORK_ARRAYS = ("theta_G", "m_G", "v_G", "theta_D", "m_D", "v_D")  # (P, n_params_*) each
STATE_ARRAYS = (*NETWORK_ARRAYS, "t_G", "t_D")


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, of another format or incomplete."""


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """write(temporary) writes the file's content at a temporary path beside path, which
    then replaces path in one rename, made durable by syncing the folder."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def write_csv(path: Path, columns, rows) -> None:
    """A CSV file of the rows (dicts) under a header of the columns, written atomically."""

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the file

    write_atomically(path, write)


def save(path: Path, step: int, arguments: dict, arrays: dict) -> None:
    """Write checkpoint.npz: arrays holds STATE_ARRAYS (host arrays)."""

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file:
            np.savez(file, format=CHECKPOINT_FORMAT, step=step,
                     arguments=json.dumps(arguments, sort_keys=True),
                     **{name: arrays[name] for name in STATE_ARRAYS})  # fmt: skip
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the checkpoint

    write_atomically(path, write)


def check_shapes(arrays: dict, P: int, n_params_G: int, n_params_D: int) -> None:
    """CheckpointError unless the arrays are P GANs' of these sizes."""
    for name in NETWORK_ARRAYS:
        expected = (P, n_params_G if name.endswith("_G") else n_params_D)
        if arrays[name].shape != expected:
            raise CheckpointError(
                f"the checkpoint's {name} is {arrays[name].shape}, but its arguments make "
                f"{expected}"
            )


def load(path: Path) -> tuple[int, dict, dict]:
    """(step, arguments, arrays) of a checkpoint, or CheckpointError saying why not."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as content:
            stored = {name: content[name] for name in content.files}
    except Exception as error:  # whatever a damaged file makes np.load raise
        raise CheckpointError(f"{path} is not a readable checkpoint ({error!r})") from None
    missing = sorted({"format", "step", "arguments", *STATE_ARRAYS} - set(stored))
    try:
        if "format" in stored and int(stored["format"]) != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{path} has checkpoint format {int(stored['format'])}; this version reads "
                f"format {CHECKPOINT_FORMAT}"
            )
        if missing:
            raise CheckpointError(f"{path} is incomplete: it lacks {', '.join(missing)}")
        step, arguments = int(stored["step"]), json.loads(str(stored["arguments"]))
        counts = int(stored["t_G"]), int(stored["t_D"])
    except (TypeError, ValueError) as error:  # a scalar that is not one, arguments not JSON
        raise CheckpointError(f"{path} is not a readable checkpoint ({error})") from None
    if not isinstance(arguments, dict) or not isinstance(arguments.get("d_steps"), int):
        raise CheckpointError(f"{path} is not a readable checkpoint: its arguments lack d_steps")
    # G takes one Adam update per step and D d_steps: other counts belong to another step
    if counts != (step, step * arguments["d_steps"]):
        raise CheckpointError(
            f"{path} is stale: it says step {step}, but its Adam counts (G {counts[0]}, "
            f"D {counts[1]}) belong to another"
        )
    return step, arguments, {name: stored[name] for name in STATE_ARRAYS}


def open_history(path: Path, columns: tuple[str, ...], start: int, last_was_final: bool):
    """history.csv opened for appending, holding the logged rows of the steps before start
    and no other: a fresh file, or a resumed run's rows cut at its checkpoint. Rows logged
    after the checkpoint, or one cut short by a crash, are logged again by the run. When
    last_was_final, the row of step start - 1 was logged only as the finished run's last
    step, which it no longer is, and goes too."""
    rows = []
    if start > 0 and path.exists():
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
                step = int(row["step"]) if all(row.get(name) for name in columns) else start
                if step < start - 1 or (step == start - 1 and not last_was_final):
                    rows.append(row)

    write_csv(path, columns, rows)
    return open(path, "a", newline="")


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
