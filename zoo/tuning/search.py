"""Running a grid search: resumable, fault tolerant, distributed or sharded.

A search lives in a project directory: ``search.json`` (what is searched, written once and
checked on every restart), KerasTuner's ``oracle.json`` and one ``trial_*/trial.json`` per
point. Re-running the same command continues where it stopped: finished trials are kept,
the trial that was running is run again. ``--shard i/N`` puts its search in
``<project>/shard-i-of-N`` so shards can be copied together and reported as one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from zoo.atomic import read_json, refuse_links, write_atomic
from zoo.data import VALIDATION_FRACTION, dataset_info, holdout, load
from zoo.environment import environment
from zoo.locking import LOCK_FILE, ProjectLock  # noqa: F401  (imported from here too)
from zoo.tuning.grids import get_grid, parse_shard, select
from zoo.tuning.hypermodel import GridHyperModel
from zoo.tuning.oracle import ResumableGridSearch

SEARCH_FILE = "search.json"
# settings that define a search: a restart with other values would mix two studies
_IDENTITY = ("grid", "dataset", "indices", "epochs", "subset", "validation_fraction", "seed",
             "early_stopping", "test_subset")


def search_dir(project_dir, shard=None) -> Path:
    project_dir = Path(project_dir)
    if shard is None:
        return project_dir
    i, n = parse_shard(shard) if isinstance(shard, str) else shard
    return project_dir / f"shard-{i}-of-{n}"


def _check_or_write_settings(folder: Path, settings: dict):
    path = folder / SEARCH_FILE
    if path.is_file():
        previous = read_json(path)
        if "validation_fraction" not in previous:
            raise ValueError(
                f"{folder} holds a search made by an older zoo, which validated on the test "
                "split; its trials cannot be mixed with new ones: use another --project-dir")
        changed = [f"{key}: {json.dumps(previous.get(key))} -> {json.dumps(settings[key])}"
                   for key in _IDENTITY if key != "indices" and previous.get(key) != settings[key]]
        if not changed and previous.get("indices") != settings["indices"]:
            # the same settings, other points: --sample or --shard chose them
            changed = [f"the selected points ({len(previous.get('indices') or [])} chosen "
                       f"by sample {previous.get('sample')}, shard {previous.get('shard')} -> "
                       f"{len(settings['indices'])} by sample {settings['sample']}, shard "
                       f"{settings['shard']})"]
        if changed:
            raise ValueError(f"{folder} holds a search with other settings "
                             f"({'; '.join(changed)}); use another --project-dir or the "
                             "original settings")
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(settings, indent=1) + "\n")


def make_tuner(grid="seed000", dataset="mnist", *, project_dir, epochs=1, sample=None,
               seed=0, shard=None, subset=None, validation_fraction=VALIDATION_FRACTION,
               test_subset=None, evaluate_test=False, early_stopping=None, data_dir=None,
               max_trials=None, indices=None, on_trial=None, time_limit=None,
               fail_at_chance=False):
    """The KerasTuner ``GridSearch`` (made resumable) for a grid (or its sample/shard) on one
    dataset. ``indices`` names the points explicitly instead (a study's plan); ``on_trial``
    and ``time_limit`` go to :class:`ResumableGridSearch`, ``fail_at_chance`` to the
    hypermodel.

    Data: ``subset`` training images (all by default) of which a seeded, stratified
    ``validation_fraction`` is held out; the objective ``val_loss`` is measured on that
    held-out part, never on the test split. ``evaluate_test`` also reports each trained
    net's test loss and accuracy (``test_subset`` images of the test split), for a study's
    final numbers; they play no part in the search. ``early_stopping`` (a patience in
    epochs) stops a trial when its validation loss has not improved for that many epochs and
    keeps its best weights."""
    grid = get_grid(grid)
    info = dataset_info(dataset)
    if isinstance(validation_fraction, bool) or \
            not isinstance(validation_fraction, (int, float)) or not 0 < validation_fraction < 1:
        raise ValueError("validation fraction must be a number in (0, 1), "
                         f"got {validation_fraction!r}")
    points = [{"model": grid.model, **p} for p in grid.points(dataset)]
    if indices is None:
        indices = select(len(points), sample=sample, seed=seed, shard=shard)
    else:
        indices = [int(i) for i in indices]
        if not all(0 <= i < len(points) for i in indices) or len(set(indices)) != len(indices):
            raise ValueError(f"indices must be distinct points of 0..{len(points) - 1}")
    if not indices:
        raise ValueError(f"shard {shard} of {len(points)} points selects no point")
    folder = search_dir(project_dir, shard)
    settings = {
        "grid": grid.name, "dataset": info.name, "indices": indices, "epochs": int(epochs),
        "subset": subset, "validation_fraction": validation_fraction,
        "validation_split": "held out of the training split (seeded, stratified)",
        "test_subset": test_subset if evaluate_test else None,
        "early_stopping": early_stopping, "seed": int(seed),
        "sample": sample, "shard": shard, "grid_axes": {k: list(v) for k, v in grid.axes.items()},
        "grid_size": grid.size(), "points_for_dataset": len(points),
        "environment": environment(), "command": " ".join(sys.argv),
    }
    # Workers only read the data; the chief (or a single process) owns search.json.
    if os.environ.get("KERASTUNER_TUNER_ID", "chief") == "chief":
        refuse_links(folder)  # KerasTuner writes by fixed names in it, never through a link
        _check_or_write_settings(folder, settings)
    x, y = load(info.name, "train", data_dir=data_dir, subset=subset, seed=seed, normalize=None)
    (x, y), (xv, yv) = holdout(x, y, validation_fraction, seed=seed)
    test = load(info.name, "test", data_dir=data_dir, subset=test_subset, seed=seed,
                normalize=None) if evaluate_test else None
    hypermodel = GridHyperModel(points, indices, (x, y, xv, yv), epochs=epochs, seed=seed,
                                fail_at_chance=fail_at_chance, test=test,
                                early_stopping=early_stopping)
    return ResumableGridSearch(
        hypermodel,
        objective="val_loss",
        max_trials=max_trials,
        seed=seed,
        directory=str(folder.parent),
        project_name=folder.name,
        overwrite=False,  # resuming is the point
        max_consecutive_failed_trials=len(indices) + 1,  # failures are results, not the end
        on_trial=on_trial,
        time_limit=time_limit,
    )


def capped_indices(grid, dataset, max_mflops, *, sample=None, seed=0, shard=None) -> list[int]:
    """The points a search runs when only those of at most ``max_mflops`` forward MFLOPs per
    image may run: the sample (seeded) and shard are drawn from those points."""
    from zoo.tuning.hypermodel import point_flops

    grid, info = get_grid(grid), dataset_info(dataset)
    if isinstance(max_mflops, bool) or not isinstance(max_mflops, (int, float)) or \
            not max_mflops > 0 or max_mflops != max_mflops:
        raise ValueError(f"max MFLOPs must be a positive number, got {max_mflops!r}")
    points = [{"model": grid.model, **p} for p in grid.points(info.name)]
    eligible = [i for i, p in enumerate(points)
                if point_flops(p, info.shape, info.num_classes) <= max_mflops * 1e6]
    if not eligible:
        raise ValueError(f"no point of grid {grid.name} costs at most {max_mflops:g} MFLOPs "
                         "per image")
    return [eligible[i] for i in select(len(eligible), sample=sample, seed=seed, shard=shard)]


class TrialProgress:
    """Progress inside a trial, for :class:`ResumableGridSearch`'s ``trial_progress``: on a
    terminal a bar of the epoch's batches under the trials' bar; elsewhere (a log) one line
    per epoch."""

    def __init__(self, tuner, *, stream=None, live=None):
        self.tuner, self.stream = tuner, stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._bar, self._start = None, time.monotonic()

    def _label(self, trial, epoch):
        return (f"point {trial.hyperparameters.values.get('point')}: epoch {epoch + 1}/"
                f"{self.tuner.hypermodel.epochs}")

    def epoch_begin(self, trial, epoch):
        self._start = time.monotonic()
        if self.live:
            import math

            from tqdm.auto import tqdm

            hypermodel = self.tuner.hypermodel
            batch = hypermodel.points[trial.hyperparameters.values["point"]]["batch_size"]
            self.close()
            self._bar = tqdm(total=math.ceil(len(hypermodel.y) / batch), unit="batch",
                             desc=self._label(trial, epoch), file=self.stream, position=1,
                             leave=False, dynamic_ncols=True)

    def batch_end(self, trial, batch):
        if self._bar is not None:
            self._bar.update(1)

    def epoch_end(self, trial, epoch, logs):
        if self.live:
            self.close()
            return
        shown = ", ".join(f"{k} {v:.4g}" for k, v in logs.items()
                          if k in ("loss", "val_loss") and isinstance(v, (int, float)))
        print(f"  {self._label(trial, epoch)}{', ' + shown if shown else ''} "
              f"({time.monotonic() - self._start:.1f} s)", file=self.stream, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def tune(grid="seed000", dataset="mnist", *, project_dir, verbose=1, progress=False,
         max_mflops=None, keep_best=True, **kwargs):
    """Run (or resume) a search; returns the project directory holding its trials.
    ``verbose=0`` silences KerasTuner's per-trial progress; ``progress`` prints trials done /
    total, failed, elapsed and ETA instead (see :class:`zoo.progress.Progress`), and the
    epochs (a batch bar on a terminal) of the trial that runs. ``max_mflops`` runs only the
    points (of the sample or shard) whose forward pass costs at most that many MFLOPs per
    image. ``keep_best`` keeps the best trial's weights for ``get_best_models()``. Ctrl-C
    stops it within seconds, resumable."""
    if max_mflops is not None:
        if kwargs.get("indices") is not None:
            raise ValueError("give indices or max_mflops, not both")
        kwargs["indices"] = capped_indices(grid, dataset, max_mflops, sample=kwargs.get("sample"),
                                           seed=kwargs.get("seed", 0), shard=kwargs.get("shard"))
    tuner = make_tuner(grid, dataset, project_dir=project_dir, **kwargs)
    tuner.keep_best = keep_best
    folder = search_dir(project_dir, kwargs.get("shard"))
    if progress:
        from zoo.progress import Progress

        states = [t.status for t in tuner.oracle.trials.values()]
        finished = [s for s in states if s != "RUNNING"]
        total = len(tuner.hypermodel.indices)
        if kwargs.get("max_trials"):
            total = min(total, kwargs["max_trials"])
        bar = Progress(total, done=len(finished), failed=finished.count("FAILED"))
        tuner.on_trial = lambda trial: bar.update(
            failed=trial.status == "FAILED",
            detail=f"point {trial.hyperparameters.values.get('point')} {trial.status.lower()}")
        tuner.trial_progress = TrialProgress(tuner, live=bar.live)
    # a chief or worker started by launch(): the launching process holds the lock
    distributed = "KERASTUNER_TUNER_ID" in os.environ
    if distributed and os.environ["KERASTUNER_TUNER_ID"] != "chief":
        watch_chief()
    elif distributed:
        _warn_if_exposed(os.environ.get("KERASTUNER_ORACLE_IP", ""))
    try:
        with contextlib.nullcontext() if distributed else ProjectLock(folder):
            tuner.search(verbose=verbose)
    finally:
        if progress:
            tuner.trial_progress.close()
            bar.close()
    return folder


def watch_chief(timeout=None, interval=1.0):
    """In a worker: end this process when its chief has been unreachable for ``timeout``
    seconds (``ZOO_CHIEF_TIMEOUT``, default 60). KerasTuner's worker waits for the chief's
    gRPC answers forever, so a worker whose chief was killed (or never came up) would hang;
    a daemon thread probes the chief's port and exits the process with status 3 instead."""
    import threading

    timeout = float(os.environ.get("ZOO_CHIEF_TIMEOUT", 60) if timeout is None else timeout)
    host = os.environ.get("KERASTUNER_ORACLE_IP", "127.0.0.1")
    port = int(os.environ.get("KERASTUNER_ORACLE_PORT", 8000))
    me = os.environ.get("KERASTUNER_TUNER_ID", "worker")

    def probe():
        last_seen = time.monotonic()
        while True:
            try:
                socket.create_connection((host, port), timeout=min(2.0, timeout)).close()
                last_seen = time.monotonic()
            except OSError:
                if time.monotonic() - last_seen > timeout:
                    print(f"zoo: {me}: no chief at {host}:{port} for {timeout:g} s; stopping "
                          "(rerun the search to resume it)", file=sys.stderr, flush=True)
                    os._exit(3)  # the main thread is blocked inside gRPC: only a hard exit works
            time.sleep(interval)

    threading.Thread(target=probe, name="zoo-chief-watchdog", daemon=True).start()


def _warn_if_exposed(host):
    """KerasTuner's chief serves its oracle as plain gRPC, without authentication, on
    ``KERASTUNER_ORACLE_IP``: ``--workers`` binds it to 127.0.0.1; a multi-host chief bound to
    another address is reachable by anyone who can reach that address, so say so."""
    import ipaddress

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        print(f"zoo: warning: the oracle listens on {host} without authentication: whoever "
              "reaches that address can read and change this search; use a private network",
              file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_search(grid, dataset, *, shard=None, data_dir=None):
    """What a search's workers would each fail on, checked once up front: the grid, the
    dataset (allowed by the grid, and present), the shard."""
    from zoo.data import load_raw

    grid = get_grid(grid)
    info = dataset_info(dataset)
    grid.points(info.name)
    if shard is not None:
        parse_shard(shard)
    load_raw(info.name, "test", data_dir=data_dir)


def _die_with_parent():
    """In a child, before exec: ask Linux to SIGTERM it when the parent dies, even by
    SIGKILL, so no tuner process outlives the command that started it."""
    import ctypes
    import signal as _signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, _signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's handlers still clean up
        pass


def launch(argv: list[str], workers: int, project_dir, *, port=None, python=sys.executable,
           poll=0.5):
    """Run a search as KerasTuner's chief plus ``workers`` worker processes on this host.

    ``argv`` is the ``zoo tune`` argument list without ``--workers``. Every process runs the
    same command; the chief (KERASTUNER_TUNER_ID=chief) serves the oracle over gRPC and
    hands each worker the next point. Logs go to ``<project>/logs/``. Returns the number of
    processes that failed.

    The children die with this process (SIGTERM, SIGINT, or SIGKILL through the kernel's
    parent-death signal); if the chief dies, the workers (which would wait for it forever)
    are stopped; a project that another live search holds is refused (``ProjectLock``).
    """
    import signal

    cores = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= cores:
        raise ValueError(f"workers must be 1..{cores} (the CPU cores of this host), "
                         f"got {workers!r}")
    port = port or _free_port()
    refuse_links(project_dir)  # the logs below are opened by fixed names
    logs = Path(project_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port)}
    # Several workers may share one GPU: by default JAX takes 75% of its memory up front and
    # TensorFlow all of it, so the second worker would run out. Take memory as needed.
    base.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    base.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    procs = []

    def stop(*_):
        for _, _, p in procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for _, _, p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()

    def on_signal(signum, frame):
        stop()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    failed = 0
    try:
        with ProjectLock(project_dir):
            for tuner_id in ["chief"] + [f"tuner{i}" for i in range(workers)]:
                log = open(logs / f"{tuner_id}.log", "ab")
                procs.append((tuner_id, log, subprocess.Popen(
                    [python, "-m", "zoo.cli", "tune", *argv],
                    env={**base, "KERASTUNER_TUNER_ID": tuner_id}, stdout=log,
                    stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                )))
                if tuner_id == "chief":
                    time.sleep(2)  # let the oracle server start before workers dial it
            chief = procs[0][2]
            while any(p.poll() is None for _, _, p in procs):
                if chief.poll() is not None and chief.returncode != 0:
                    stop()  # workers would wait for a dead chief forever
                    break
                if chief.poll() is None and all(p.poll() is not None for _, _, p in procs[1:]) \
                        and any(p.returncode != 0 for _, _, p in procs[1:]):
                    stop()  # every worker failed: the chief would serve nobody forever
                    break
                time.sleep(poll)
            failed = sum(p.returncode != 0 for _, _, p in procs)
    finally:
        stop()
        for _, log, _ in procs:
            log.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return failed
