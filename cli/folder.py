"""A run's folder: what run.py keeps there beside its outputs, so that `--resume` can
always tell what the folder holds and finish it.

    run.json   {"arguments": ...}: the arguments the run was made with (--out and --resume
               excepted), written when the folder is made, before any step. A checkpoint
               must have the same (but for the RESUMABLE options of cli/options.py), and a
               folder without one starts over from them.
    .lock      while a process writes there (cli/lock.py)

What `python run.py --resume FOLDER` does with what it finds (cli/options.py):

    checkpoint.npz before --steps         trains on from it
    checkpoint.npz at --steps, outputs    evaluates and writes them, training nothing
    not all written (killed while
    evaluating)
    run.json, no checkpoint.npz and no    starts over from step 0 (killed before its first
    metrics.json                          checkpoint), replacing only the run's own files
    anything else                         refuses, touching nothing (exit status 2)

Each checkpoint is checked against run.json and history.csv (cli/files.py: read_history)
first.
"""

import json
from pathlib import Path

from cli.files import write_atomically

RECORD = "run.json"


def record(folder: Path, arguments: dict) -> None:
    """Write run.json: the run's arguments."""
    content = json.dumps({"arguments": arguments}, indent=2, sort_keys=True) + "\n"
    write_atomically(folder / RECORD, lambda path: path.write_text(content))


def recorded(folder: Path) -> dict | None:
    """run.json's arguments; None if there is no run.json, ValueError if it is unreadable."""
    path = folder / RECORD
    if not path.exists():
        return None
    try:
        arguments = json.loads(path.read_text())["arguments"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a readable run record ({error!r})") from None
    if not isinstance(arguments, dict):
        raise ValueError(f"{path} is not a readable run record (its arguments are no table)")
    return arguments


def finished(folder: Path, step: int, figure: str) -> bool:
    """Whether the folder holds every output of a run finished at step: metrics.json says
    so (it is written last), and the figure is there."""
    try:
        summary = json.loads((folder / "metrics.json").read_text())
        steps = summary["arguments"]["steps"]
    except (OSError, ValueError, KeyError, TypeError):  # none, half of one, or not a run's
        return False
    whole = not {"interrupted_at", "error"} & set(summary)
    return whole and steps == step and (folder / figure).exists()
