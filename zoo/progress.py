"""Progress of long work (a search, a study): done / total, failed, elapsed and ETA.

On a terminal it is one live line (tqdm); otherwise (a log file, CI) one plain line per
finished item, so that ``tail -f`` shows the same thing a terminal would.
"""

from __future__ import annotations

import sys
import time


def _clock(seconds) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Counts finished items against ``total``; ``done``/``failed`` are those finished
    before this process started (a resumed run), which the ETA does not time."""

    def __init__(self, total, *, done=0, failed=0, label="trials", stream=None, live=None):
        self.total, self.done, self.failed, self.label = int(total), int(done), int(failed), label
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._start, self._run_here = time.monotonic(), 0
        self._bar = None
        if self.live:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, initial=self.done, unit=label[:-1] or label,
                             file=self.stream, dynamic_ncols=True)

    def eta(self) -> float | None:
        if not self._run_here:
            return None
        per_item = (time.monotonic() - self._start) / self._run_here
        return per_item * max(0, self.total - self.done)

    def line(self, detail="") -> str:
        eta = self.eta()
        text = (f"[{self.done}/{self.total} {self.label}, {self.failed} failed] "
                f"elapsed {_clock(time.monotonic() - self._start)}, "
                f"ETA {'?' if eta is None else _clock(eta)}")
        return f"{text}  {detail}".rstrip()

    def grow(self, total):
        """A study that adds work as it learns (replacing failed pairs) raises the total."""
        self.total = max(self.total, int(total))
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()

    def update(self, failed=False, detail=""):
        self.done += 1
        self._run_here += 1
        self.failed += bool(failed)
        if self._bar is not None:
            self._bar.set_postfix_str(f"{self.failed} failed {detail}".strip(), refresh=False)
            self._bar.update(1)
        else:
            print(self.line(detail), file=self.stream, flush=True)

    def restart_clock(self):
        """Time the ETA from now on: after work of another kind (a study's training runs
        before its many short measurements), whose pace says nothing about what is left."""
        self._start, self._run_here = time.monotonic(), 0

    def close(self):
        if self._bar is not None:
            self._bar.close()
