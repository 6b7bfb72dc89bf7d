"""A lock on a folder: one search, chief or study runner at a time (no Keras needed)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from zoo.atomic import refuse_link

LOCK_FILE = ".lock"


def _zoo_process(pid) -> bool:
    """Is ``pid`` a live process that could be a zoo search (a pid only, as a lock file of an
    older zoo holds it: a recycled pid of another program does not count)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no /proc (not Linux): trust the pid
        return True
    return b"zoo" in cmdline


class ProjectLock:
    """``<folder>/.lock``, held for as long as a search (or a chief, or a study's runner)
    runs in the folder: a second one on a live project is refused in one line naming the
    owner's pid, instead of training the same points twice.

    The lock is the kernel's (``fcntl.flock`` on the open file): taking it is one atomic step,
    so exactly one process holds it, and it is released when its owner ends, however it
    ends (a SIGKILL, a crash): no pid is read to decide, so a recycled pid cannot keep a
    lock alive. The file holds the owner's pid only to name it. Taking the lock again in the
    process that holds it is allowed (nested ``with``). A lock file written by an older zoo
    (a bare pid, no kernel lock) is honoured while that pid is a live zoo process.
    ``flock`` is local to a host: on a network file system that does not forward it, two
    hosts are not kept apart (shards are the way to split a search across hosts).
    """

    _held: dict = {}  # path -> [fd, depth]: this process's locks, for nested use

    def __init__(self, folder):
        self.path = Path(folder) / LOCK_FILE
        self._key = None

    def owner(self, fd=None) -> int | None:
        """The pid written in the lock file (None if it names none)."""
        try:
            text = os.pread(fd, 4096, 0).decode() if fd is not None else self.path.read_text()
        except (OSError, UnicodeDecodeError):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, dict):
            value = value.get("pid")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _refuse(self, pid):
        who = f"process {pid}" if pid else "another process"
        return ValueError(f"{self.path.parent} is being searched by {who}; wait for it, or "
                          "stop it first")

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = str(self.path.resolve())
        if self._key in ProjectLock._held:
            ProjectLock._held[self._key][1] += 1
            return self
        while True:
            try:  # never through a link planted as .lock: it would truncate its target
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                             | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError:
                refuse_link(self.path)
                raise
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: EWOULDBLOCK
                pid = self.owner(fd)
                os.close(fd)
                raise self._refuse(pid) from None
            try:  # its owner may have removed the file between our open and our flock
                current = os.stat(self.path)
                mine = os.fstat(fd)
                same = (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            legacy = os.pread(fd, 4096, 0).strip()
            if legacy.isdigit() and int(legacy) != os.getpid() and _zoo_process(int(legacy)):
                os.close(fd)
                raise self._refuse(int(legacy))
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                       "since": time.strftime("%Y-%m-%dT%H:%M:%S")})
                           + "\n").encode(), 0)
            ProjectLock._held[self._key] = [fd, 1]
            return self

    def __exit__(self, *exc):
        entry = ProjectLock._held.get(self._key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del ProjectLock._held[self._key]
            try:  # removed while still held: a waiting opener sees another file and retries
                self.path.unlink(missing_ok=True)
            finally:
                os.close(entry[0])
