"""Ctrl-C during a search: stop within seconds, at a safe point, and stay resumable.

A KeyboardInterrupt that Python raises wherever the main thread happens to be can land in a
weakref finalizer or a callback of TensorFlow/XLA, where it is printed as "Exception ignored"
and lost: the search then ran on to the end and exited 0. So while a search runs, the first
Ctrl-C only sets a flag; the search raises KeyboardInterrupt itself at the next safe point
(the end of a batch or an epoch, before a new trial), in its own frames, where nothing can
swallow it. The trial that was running stays RUNNING on disk and runs again on resume (every
state file is written atomically). If no safe point comes within ``grace`` seconds (a long
compile or evaluation), or on a second Ctrl-C, a command-line process stops at once with
status 130 (the second Ctrl-C by the kernel's default action for SIGINT, so even from
inside TensorFlow's C++ code), as a SIGKILL would, which the search also survives; in a
notebook kernel (where exiting would kill the kernel) a KeyboardInterrupt is raised instead.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

_requested = threading.Event()


def requested() -> bool:
    return _requested.is_set()


def check():
    """Raise KeyboardInterrupt if Ctrl-C was pressed during the search (a safe point)."""
    if _requested.is_set():
        raise KeyboardInterrupt("search interrupted")


class StopOnInterrupt:
    """Context manager: Ctrl-C handling as the module docstring says, for the main thread
    when SIGINT has Python's default handler (otherwise it changes nothing)."""

    def __init__(self, grace=5.0, hard=None):
        self.grace = float(grace)
        self.hard = ("ipykernel" not in sys.modules) if hard is None else hard
        self._previous, self._active = None, False

    def __enter__(self):
        _requested.clear()
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
            self._active = True
        return self

    def __exit__(self, *exc):
        if self._active and not (_requested.is_set() and self.hard):
            signal.signal(signal.SIGINT, self._previous)
        # else the process is on its way out (unloading TensorFlow takes seconds), and a
        # second Ctrl-C keeps ending it at once (the handler set below)
        self._active = False
        _requested.clear()

    def _handler(self, signum, frame):
        if _requested.is_set():  # the second Ctrl-C
            self._stop_now()
            return
        _requested.set()
        if self.hard:
            # The second Ctrl-C: the kernel's default action, which ends the process even
            # while the main thread is inside TensorFlow's C++ code (a Python handler would
            # only run once it came back to Python).
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        print("\nzoo: stopping the search (the running trial runs again when it is resumed); "
              "Ctrl-C again stops at once", file=sys.stderr, flush=True)
        threading.Thread(target=self._watchdog, name="zoo-interrupt", daemon=True).start()

    def _watchdog(self):
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            if not self._active:
                return
            time.sleep(0.05)
        if self._active:
            if self.hard:
                self._exit()
            import _thread

            _thread.interrupt_main()  # runs the handler again in the main thread

    def _stop_now(self):
        if self.hard:
            self._exit()
        raise KeyboardInterrupt("search interrupted")

    @staticmethod
    def _exit():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        print("\nzoo: interrupted; run the same command again to resume", file=sys.stderr,
              flush=True)
        os._exit(130)
