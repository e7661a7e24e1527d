"""One process per output folder: an exclusive lock on FOLDER/.lock while a run or a sweep
writes there.

The lock is an advisory `flock` on the file, so the operating system releases it when the
holder exits, however it exits (SIGKILL, a crash): a lock left by a dead process never
blocks the next one. The file holds the holder's process id, for the message that names
it, and exists only while the lock is held (or after a crash, which leaves it to the next
holder): its holder removes it before releasing, so a folder at rest holds its outputs
alone; an exit that skips __exit__ (os._exit, run.py's second Ctrl-C) calls before_exit.
A process that locked a file its holder had just removed finds the path gone or a newer
file there, and locks again.

Contract: `FolderLock(folder)` is a context manager; entering raises FolderBusyError when
another process holds the folder's lock, and OSError when the folder cannot be written.
POSIX only (fcntl).
"""

import fcntl
import os
from pathlib import Path

LOCK_NAME = ".lock"


class FolderBusyError(RuntimeError):
    """Another process holds the folder's lock; `holder` is its process id, if it wrote one."""

    def __init__(self, folder: Path, holder: str):
        super().__init__(
            f"{str(folder)!r} is in use by another process ({holder or 'process id unknown'})"
        )
        self.holder = holder


class FolderLock:
    held: set[Path] = set()  # the lock files of this process's locks

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self.descriptor = None

    def __enter__(self) -> "FolderLock":
        while self.descriptor is None:
            # O_NOFOLLOW: a link planted at the lock's name is refused, never written through
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(descriptor, 64, 0).decode(errors="replace").strip()
                os.close(descriptor)
                raise FolderBusyError(self.path.parent, holder and f"process {holder}") from None
            if self.is_at_path(descriptor):
                self.descriptor = descriptor
            else:  # its holder removed it between our open and our lock: lock the new one
                os.close(descriptor)
        try:
            os.ftruncate(self.descriptor, 0)
            os.pwrite(self.descriptor, f"{os.getpid()}\n".encode(), 0)
        except OSError as error:  # a full disk: named, as every failed write is
            os.close(self.descriptor)
            self.descriptor = None
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        FolderLock.held.add(self.path)
        return self

    def is_at_path(self, descriptor: int) -> bool:
        """Whether the file open at descriptor is still the one at self.path."""
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return False
        locked = os.fstat(descriptor)
        return (locked.st_dev, locked.st_ino) == (at_path.st_dev, at_path.st_ino)

    @classmethod
    def before_exit(cls) -> None:
        """Remove the files of every lock this process holds, for an exit that skips
        __exit__: the exit then releases the locks."""
        for path in cls.held:
            path.unlink(missing_ok=True)

    def __exit__(self, *exc) -> None:
        # removed while still held, so that no one locks a file that is about to go
        FolderLock.held.discard(self.path)
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.descriptor)  # closing releases the lock
            self.descriptor = None
