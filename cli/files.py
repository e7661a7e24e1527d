"""Writing a run's files so that a crash never leaves half of one, and reading back the one
file that is appended to, history.csv, only as far as a checkpoint vouches for it.

Every file a run or a sweep writes whole goes through `write_atomically`: to a hidden
temporary name beside it, synced, then renamed over it, so an interrupted write (a second
Ctrl-C, a crash, a full disk) leaves the previous file whole or none, never half of one.
history.csv is the exception, a log appended row by row (`History`) and synced to disk
before each checkpoint, which keeps its size and SHA-256 then (`History.mark`). A resumed
run keeps those bytes (`read_history`): the header and the rows of the steps before the
checkpoint, checked byte for byte, less the last step's rows where they were logged only
as the finished run's last step and it now trains on; rows logged after it, or one cut
short by a crash, are logged again by the run, identically.

An OSError raised while writing names the file being written (`naming`), never a temporary.
A process killed while writing leaves its temporary behind; `remove_temporaries` clears
them from a folder that no process writes into (its lock held: cli/lock.py).

Contract: paths are pathlib.Path; every write is durable (fsync) before it replaces a file.
"""

import csv
import hashlib
import io
import os
import re
import secrets
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from cli.lock import LOCK_NAME

# write_atomically's temporary names: .NAME.PID-RANDOM.partial
TEMPORARY = re.compile(r"\..+\.\d+-[0-9a-f]{8}\.partial")
# loss_D is D's objective: its logistic loss, plus its gradient penalty where it has one
HISTORY_COLUMNS = ("step", "sigma", "loss_D", "loss_G", "D_real", "D_fake")


@contextmanager
def naming(path: Path):
    """OSErrors raised inside name path, the file being written."""
    try:
        yield
    except OSError as error:
        error.filename, error.filename2 = str(path), None
        raise


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """write(temporary) writes the file's content at a temporary path beside path, which
    then replaces path in one rename: the content synced to disk before the rename, the
    folder after it, so that a power loss leaves the old file or the new one whole. The
    temporary name is unique (process id and a random part), so that two writers never
    share one; write creates it, so it takes the permissions any new file would."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    with naming(path):
        try:
            write(temporary)
            synced(temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        synced(path.parent)


def synced(path: Path) -> None:
    """fsync a file or a folder by its path."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def left_before_record(folder: Path) -> bool:
    """Whether folder holds what a process stopped before it wrote its record (run.json,
    sweep.json) leaves, and nothing else: its lock or temporaries; nothing anyone made."""
    names = [path.name for path in folder.iterdir()]
    return bool(names) and all(name == LOCK_NAME or TEMPORARY.fullmatch(name) for name in names)


def remove_temporaries(folder: Path) -> None:
    """Remove what writes killed before their rename left in folder (TEMPORARY's names)."""
    for path in folder.iterdir():
        if TEMPORARY.fullmatch(path.name):
            with naming(path):
                path.unlink(missing_ok=True)


def write_csv(path: Path, columns, rows) -> None:
    """A CSV file of the rows (dicts) under a header of the columns, written atomically."""

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(path, write)


def history_columns(P: int) -> tuple[str, ...]:
    """history.csv's columns: a population's rows say which GAN they are of."""
    return HISTORY_COLUMNS if P == 1 else ("step", "gan", *HISTORY_COLUMNS[1:])


def csv_lines(columns, rows, header: bool = False) -> bytes:
    """The rows (dicts; keys beyond columns ignored) as CSV lines, as history.csv has them."""
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


class History:
    """history.csv open for appending, starting from content (the header alone, or what
    read_history kept of a resumed run's). A context manager."""

    def __init__(self, path: Path, columns, content: bytes):
        write_atomically(path, lambda temporary: temporary.write_bytes(content))
        self.path, self.columns = path, columns
        self.size, self.sha256 = len(content), hashlib.sha256(content)
        with naming(path):
            self.file = open(path, "ab")  # noqa: SIM115 (open as long as the History is)

    def write(self, rows) -> None:
        data = csv_lines(self.columns, rows)
        with naming(self.path):
            self.file.write(data)
            self.file.flush()  # a row is on the page as soon as it is logged
        self.size += len(data)
        self.sha256.update(data)

    def mark(self) -> dict:
        """Syncs the file to disk, before the checkpoint that keeps what this returns:
        its size in bytes and their SHA-256 (hex)."""
        with naming(self.path):
            os.fsync(self.file.fileno())
        return {"history_bytes": self.size, "history_sha256": self.sha256.hexdigest()}

    def __enter__(self) -> "History":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        try:
            with naming(self.path):
                self.file.close()
        except OSError:
            if error is None:  # else the write that failed already says so
                raise


def mark_of(content: bytes) -> dict:
    """History.mark of a history.csv that holds content."""
    return {"history_bytes": len(content), "history_sha256": hashlib.sha256(content).hexdigest()}


class HistoryError(ValueError):
    """A history.csv that is not the one its checkpoint was saved with."""


def read_history(
    path: Path, columns, start: int, mark: tuple[int, str], last_was_final: bool
) -> bytes:
    """What a run resumed from the checkpoint of step start keeps of history.csv: the
    first mark[0] bytes, whose SHA-256 must be mark[1] (the checkpoint's History.mark): the
    header and the rows of the steps before start. When last_was_final, the rows of step
    start - 1 were logged only as the finished run's last step, which it no longer is, and
    go too. HistoryError names the file and the first problem found."""
    size, sha256 = mark
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise HistoryError(f"{path} is missing; the checkpoint holds its rows up to step "
                           f"{start - 1}") from None  # fmt: skip
    kept = content[:size]
    if len(kept) < size or hashlib.sha256(kept).hexdigest() != sha256:
        raise HistoryError(f"{path}: {first_problem(content, columns, start, size)}")
    lines = kept.splitlines(keepends=True)
    last_logged = int(lines[-1].split(b",")[0]) if len(lines) > 1 else -1
    if last_logged >= start:  # the history of a later step than the checkpoint's
        raise HistoryError(f"{path} logs step {last_logged}, past the checkpoint's step "
                           f"{start}: they were not saved together")  # fmt: skip
    while last_was_final and len(lines) > 1 and lines[-1].startswith(f"{start - 1},".encode()):
        lines.pop()
    return b"".join(lines)


def first_problem(content: bytes, columns, start: int, size: int) -> str:
    """What is wrong with a history.csv whose first size bytes are not those its
    checkpoint (of step start) saw, as far as reading it strictly can tell."""
    lines = content.decode(errors="replace").splitlines()
    if not lines:
        return f"it is empty; the checkpoint holds its rows up to step {start - 1}"
    if lines[0] != ",".join(columns):
        return f"its header is {lines[0]!r}, not {','.join(columns)!r}"
    previous = None
    for number, line in enumerate(lines[1:], start=2):
        values = line.split(",")
        if len(values) != len(columns):
            return f"line {number} has {len(values)} fields, not {len(columns)}"
        fields = dict(zip(columns, values, strict=True))
        for name, value in fields.items():
            kind, parse = ("an integer", int) if name in ("step", "gan") else ("a number", float)
            try:
                parse(value)
            except ValueError:
                return f"line {number}: {name} {value!r} is not {kind}"
        key = (int(fields["step"]), int(fields.get("gan", 0)))
        if key[0] >= start:
            break
        if previous is not None and key <= previous:
            return f"line {number}: step {key[0]} is logged again, or out of order"
        previous = key
    if len(content) < size:
        return (f"it has {len(content)} bytes, fewer than the {size} the checkpoint of step "
                f"{start} saw: rows are missing")  # fmt: skip
    return (f"its rows before step {start} are not those the checkpoint was saved with (a row "
            "added, removed or edited, or the checkpoint is another run's)")  # fmt: skip
