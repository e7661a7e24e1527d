"""What the sweep's tests share: a sweep folder's rows and files, compared across runs."""

import csv
from pathlib import Path

from cli.lock import LOCK_NAME


def rows_of(folder: Path) -> list[dict]:
    """runs.csv without the one column that is a measurement of time, not of the run."""
    with open(folder / "runs.csv", newline="") as file:
        return [{k: v for k, v in row.items() if k != "block_seconds"}
                for row in csv.DictReader(file)]  # fmt: skip


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file of the folder and its content, but the lock (it holds its last holder's
    process id)."""
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.name != LOCK_NAME}
