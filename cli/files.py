"""Writing a run's files so that a crash never leaves half of one.

Every file a run or a sweep writes whole goes through `write_atomically`: to a hidden temporary name
beside it, then renamed over it, so an interrupted write (a second Ctrl-C, a crash) leaves
the previous file whole or none, never half of one. history.csv is the exception, a log
appended row by row and synced to disk before each checkpoint; a resumed run's history is
cut at its checkpoint (`open_history`), and the run logs the rest again, identically.

Contract: paths are pathlib.Path; every write is durable (fsync) before it replaces a file.
"""

import csv
import os
from collections.abc import Callable
from pathlib import Path


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
