"""zoo.progress: done / total, failed, elapsed and ETA, one line per item off a terminal."""

import io

import pytest

from zoo.progress import Progress


def test_a_line_per_item_with_counts_and_eta(monkeypatch):
    clock = iter([100.0, 110.0, 110.0, 120.0, 120.0, 120.0])
    monkeypatch.setattr("zoo.progress.time.monotonic", lambda: next(clock))
    out = io.StringIO()
    bar = Progress(4, done=1, failed=1, stream=out)  # 1 item finished before this process
    assert bar.eta() is None  # nothing timed yet
    bar.update(detail="point 3 completed")  # 10 s for the first item here
    bar.update(failed=True, detail="point 4 failed")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[2/4 trials, 1 failed] elapsed 0:10, ETA 0:20  point 3 completed"
    assert lines[1] == "[3/4 trials, 2 failed] elapsed 0:20, ETA 0:10  point 4 failed"


def test_restart_clock_times_only_what_follows(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("zoo.progress.time.monotonic", lambda: now[0])
    bar = Progress(12, label="items", stream=io.StringIO())
    now[0] = 3600.0
    bar.update()  # one long training item
    bar.update()
    assert bar.eta() == pytest.approx(1800 * 10)
    bar.restart_clock()
    now[0] = 3610.0
    bar.update()  # then short measurements
    assert bar.eta() == pytest.approx(10 * 9)
