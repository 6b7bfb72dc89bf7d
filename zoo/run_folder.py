"""A training run folder as one object: the files ``zoo.train.fit(out_dir=...)`` (``zoo train
--out``) writes, which studies read back and ``zoo publish`` publishes (no Keras needed).

The folder holds:

- ``config.json``: the resolved settings -- model and builder arguments, dataset, training
  and test examples, validation hold-out, recipe, seed, augmentation, library versions;
  ``extended`` lists each time a finished run was trained on to more epochs;
- ``metrics.csv``: one row per epoch (Keras ``CSVLogger``), with its wall-clock ``seconds``;
- ``results.json``: written last, when the run is finished: test loss and accuracy, the last
  validation numbers, epochs and the seconds of all of them;
- ``model.keras``: the trained model, optimizer state included (a finished run can be
  extended);
- ``checkpoint/``: Keras ``BackupAndRestore`` state after every epoch of an unfinished run,
  removed when it finishes; ``tensorboard/`` when asked for; ``.lock`` while a process trains.

Every file is written to a temporary name and renamed (:mod:`zoo.atomic`), so an interrupted
run never leaves a half-written one behind.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

from zoo.atomic import file_mode, read_json, refuse_links, remove_inside, write_atomic, write_json
from zoo.locking import LOCK_FILE, ProjectLock

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
RESULTS_FILE = "results.json"
MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoint"
TENSORBOARD_DIR = "tensorboard"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, MODEL_FILE, RESULTS_FILE, CHECKPOINT_DIR,
             TENSORBOARD_DIR)

# the settings a resumed run must share with the run in its folder (epochs apart: see
# RunFolder.prepare)
RESUME_KEYS = ("model", "model_config", "dataset", "train_examples", "recipe", "seed",
               "mixed_precision", "augment", "validation")


class RunLock(ProjectLock):
    """``<run folder>/.lock`` while ``fit`` trains in it (see :class:`zoo.locking.ProjectLock`):
    a second process on the same folder -- ``--overwrite`` included -- is refused."""

    def _refuse(self, pid):
        who = f"process {pid}" if pid else "another process"
        return ValueError(f"{self.path.parent} is in use: {who} is training in it; wait for "
                          "it to end, or stop it first")


def save_model_atomic(model, path: Path) -> None:
    """``model.save(path)`` through a temporary file renamed over ``path``. The temporary
    name is new and created by us (``mkstemp``), so no file planted in the folder -- a link
    under a name we would reuse -- is written through."""
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _check_h5(path: Path, checkpoint_dir: Path) -> None:
    """Read every dataset of an HDF5 file: a truncated one is one ValueError naming it."""
    import h5py

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r") as f:
            f.visititems(read)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ValueError(f"{path} cannot be read ({e.__class__.__name__}: {e}); the "
                         f"checkpoint is truncated or corrupt (a kill while it was written?); "
                         f"delete {checkpoint_dir} to train the run again from its first "
                         "epoch") from None


def _csv_rows(csv_path) -> list[dict]:
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def _add_seconds_column(csv_path):
    """A run begun before epochs were timed gets an empty ``seconds`` column, so the rows that
    its resumed epochs append match the header."""
    if not csv_path.is_file():
        return
    lines = csv_path.read_text().splitlines()
    if lines and "seconds" not in lines[0].split(","):
        # the CSV logger orders its columns: epoch, then the logs' keys sorted
        header = lines[0].split(",")
        keys = sorted(header[1:] + ["seconds"])
        at = 1 + keys.index("seconds")
        rows = [line.split(",") for line in lines]
        rows[0].insert(at, "seconds")
        for row in rows[1:]:
            row.insert(at, "")
        write_atomic(csv_path, "".join(",".join(row) + "\r\n" for row in rows))  # as it writes


def _run_seconds(csv_path, fallback):
    """The sum of the epochs' ``seconds`` in a run's metrics.csv (every session of a resumed
    run), or ``fallback`` when some epoch was not timed."""
    rows = _csv_rows(csv_path)
    try:
        return sum(float(row["seconds"]) for row in rows) if rows else fallback
    except (KeyError, TypeError, ValueError):
        return fallback


def _flatten(value, prefix=""):
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _differences(old: dict, new: dict) -> list[str]:
    """``["seed: 0 -> 1", "recipe.learning_rate: 0.1 -> 0.01"]``: every setting of ``new``
    that differs from ``old`` (epochs apart), with both values."""
    as_json = json.loads(json.dumps({k: new.get(k) for k in RESUME_KEYS}))
    a = _flatten({k: old.get(k) for k in RESUME_KEYS})
    b = _flatten(as_json)
    a.pop("recipe.epochs", None)
    b.pop("recipe.epochs", None)
    return [f"{k}: {json.dumps(a.get(k))} -> {json.dumps(b.get(k))}"
            for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


class RunFolder:
    """One training run folder (see the module docstring for its files)."""

    def __init__(self, path):
        self.path = Path(path)
        # its files
        self.config_file = self.path / CONFIG_FILE
        self.metrics_file = self.path / METRICS_FILE
        self.results_file = self.path / RESULTS_FILE
        self.model_file = self.path / MODEL_FILE
        self.checkpoint_dir = self.path / CHECKPOINT_DIR
        self.tensorboard_dir = self.path / TENSORBOARD_DIR

    def __repr__(self):
        return f"RunFolder({str(self.path)!r})"

    # ---- reading ------------------------------------------------------------------------

    def has_config(self) -> bool:
        """Was a run begun here (finished or not)?"""
        return self.config_file.is_file()

    def is_finished(self) -> bool:
        return self.results_file.is_file()

    def config(self) -> dict:
        return read_json(self.config_file)

    def results(self) -> dict:
        return read_json(self.results_file)

    def finished_epochs(self) -> int | None:
        """Epochs a finished run trained (its results.json), None for an unfinished run."""
        return int(self.results()["epochs"]) if self.is_finished() else None

    def resumed_epochs(self) -> int | None:
        """The epochs a resume without an epoch count continues to: the run as it was set up
        (a finished run: its own epochs), not the recipe's default length. None: no run."""
        if not self.has_config():
            return None
        previous = self.config().get("recipe", {}).get("epochs")
        return self.finished_epochs() or previous

    def checkpoint_epoch(self, epochs: int | None = None) -> int:
        """The epoch an interrupted run's checkpoint continues from (0 without one). A
        checkpoint whose epoch is not a whole number from 0 to ``epochs`` (the run's length),
        or whose weights file cannot be read to its end (Keras writes it in place: a kill
        mid-write truncates it), is one ValueError naming it -- resuming from it would train
        from a wrong epoch or stop deep inside h5py."""
        meta = self.checkpoint_dir / "training_metadata.json"
        if not meta.is_file():
            return 0
        meta_json = read_json(meta)
        epoch = meta_json.get("epoch") if isinstance(meta_json, dict) else None
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"{meta} says epoch {epoch!r}, not a count of epochs: the "
                             f"checkpoint is corrupt; delete {self.checkpoint_dir} to train the "
                             "run again from its first epoch")
        if epochs is not None and epoch > epochs:
            raise ValueError(f"{meta} says epoch {epoch}, past the {epochs} epochs of this run: "
                             "the checkpoint is another run's or corrupt; delete "
                             f"{self.checkpoint_dir} to train the run again from its first epoch")
        weights = self.checkpoint_dir / "latest.weights.h5"
        if weights.is_file():
            _check_h5(weights, self.checkpoint_dir)
        return epoch

    def history(self) -> dict:
        """metrics.csv as ``{column: [value per epoch]}`` (``epoch`` left out; {} without it)."""
        if not self.metrics_file.is_file():
            return {}
        rows = _csv_rows(self.metrics_file)
        keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
        return {k: [float(r[k]) if r[k] not in ("", None) else None for r in rows]
                for k in keys}

    def logged_epochs(self) -> list | None:
        """The ``epoch`` column of metrics.csv, as written (None without the file)."""
        if not self.metrics_file.is_file():
            return None
        return [row.get("epoch") for row in _csv_rows(self.metrics_file)]

    def train_seconds(self, fallback: float) -> float:
        """The seconds of all the run's epochs, also those of earlier sessions of a resumed
        run (``fallback`` when some epoch was not timed)."""
        return _run_seconds(self.metrics_file, fallback)

    def summary(self) -> dict:
        """What a finished run measured: parameters, test loss and accuracy (an evaluation pass
        over the test split after training), epochs, seconds per epoch, train examples."""
        config, result = self.config(), self.results()
        return {"params": config["params"], "test_accuracy": result["test_accuracy"],
                "test_loss": result["test_loss"], "epochs": result["epochs"],
                "seconds_per_epoch": result["train_seconds"] / result["epochs"],
                "train_examples": config["train_examples"],
                "test_examples": config["test_examples"]}

    def load_model(self, **kwargs):
        """The run's model.keras, through :func:`zoo.saving.load_model` (every .keras load is
        checked there); ``kwargs`` go to it."""
        from zoo.saving import load_model

        return load_model(self.model_file, **kwargs)

    # ---- writing ------------------------------------------------------------------------

    def lock(self) -> RunLock:
        return RunLock(self.path)

    def prepare(self, config: dict, *, resume: bool, overwrite: bool) -> str:
        """Refuse to mix two runs in one folder: an existing run is continued (``resume``,
        same settings), replaced (``overwrite``), or left alone with one clear error. Returns
        what to do: "new", "resume" (an interrupted run), "extend" (a finished run, more
        epochs) or "finished" (a finished run, the same epochs: nothing to do)."""
        run_dir = self.path
        refuse_links(run_dir)  # the run writes by fixed names here, never through a link
        existing = sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) \
            if run_dir.is_dir() else []
        if existing and not (resume or overwrite):
            raise ValueError(f"{run_dir} already holds a run ({', '.join(existing[:4])}); "
                             "pass --resume to continue it or --overwrite to replace it")
        mode = "new"
        if resume and not existing:
            raise ValueError(f"nothing to resume in {run_dir}: it holds no run; drop --resume "
                             "to start one there")
        if resume and existing:
            mode = self._resume_mode(config, existing)
            _add_seconds_column(self.metrics_file)
        if overwrite and existing:
            self._check_replaceable(existing)
            # config.json last: a kill midway leaves a folder that is still a zoo run
            for name in sorted(RUN_FILES, key=lambda name: name == CONFIG_FILE):
                remove_inside(run_dir / name, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        return mode

    def _check_replaceable(self, existing: list[str]) -> None:
        """--overwrite removes a run's files by name: only where a zoo run was begun (a
        config.json the zoo wrote), so that a folder of something else that happens to hold
        a ``checkpoint/`` or a ``config.json`` loses nothing."""
        try:
            config = self.config() if self.has_config() else None
        except ValueError:
            config = None
        if not (isinstance(config, dict) and {"model", "recipe", "seed"} <= config.keys()):
            raise ValueError(
                f"{self.path} holds {', '.join(existing[:4])} but no zoo run (no config.json "
                "written by zoo train), so --overwrite will not remove anything there; choose "
                "an empty folder, or clear it yourself")

    def _resume_mode(self, config: dict, existing: list[str]) -> str:
        """"resume", "finished" or "extend" for a resume with ``config``; any other setting
        than the folder's run was trained with is refused, naming each."""
        run_dir = self.path
        if not self.has_config():
            raise ValueError(
                f"{run_dir} holds {', '.join(existing[:4])} but no config.json, so the "
                "settings it was trained with are unknown and --resume could continue it with "
                "another learning rate, seed or epoch count; choose an empty folder, or clear "
                "it yourself")
        old = self.config()
        changed = _differences(old, config)
        old_epochs = old.get("recipe", {}).get("epochs")
        new_epochs = config["recipe"]["epochs"]
        done = self.finished_epochs()
        if done is None and old_epochs != new_epochs:
            changed.append(f"epochs: {old_epochs} -> {new_epochs} (finish the run with its own "
                           "epochs first; a finished run can then be extended)")
        if (done is not None and old_epochs != done and old_epochs != new_epochs
                and self.checkpoint_dir.is_dir()):
            changed.append(f"epochs: {old_epochs} -> {new_epochs} (the run was being extended "
                           f"from {done} to {old_epochs} epochs when it stopped; finish that "
                           "first)")
        if done is not None and new_epochs < done:
            changed.append(f"epochs: {done} -> {new_epochs} (a finished run cannot be "
                           "shortened)")
        if changed:
            raise ValueError(f"{run_dir} holds a run with other settings ({'; '.join(changed)})"
                             "; resume it with its own, or pass --overwrite")
        if done is None:
            return "resume"
        if new_epochs == done:
            return "finished"
        if not self.model_file.is_file():
            raise ValueError(f"{run_dir} is finished but has no model.keras to extend; "
                             "pass --overwrite to train it again")
        return "extend"

    def start(self, config: dict, *, extending: bool) -> None:
        """Write the run's config.json; an extended run's lists each extension
        (``extended``: from_epochs, to_epochs), the earlier ones kept."""
        if extending:
            history = self.config().get("extended", [])
            step = {"from_epochs": self.finished_epochs(), "to_epochs": config["recipe"]["epochs"]}
            config["extended"] = history if step in history else [*history, step]
        write_json(self.config_file, config)

    def drop_epochs_from(self, first_epoch: int) -> None:
        """Keep only the metrics.csv rows of epochs before ``first_epoch`` (0-based), so that
        epochs trained again after a resume are not listed (and timed) twice."""
        csv_path = self.metrics_file
        if not csv_path.is_file():
            return
        lines = csv_path.read_text().splitlines()
        if not lines:
            return
        kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[0].isdigit()
                             and int(line.split(",")[0]) < first_epoch]
        if len(kept) != len(lines):
            write_atomic(csv_path, "".join(line + "\r\n" for line in kept))

    def finish(self, results: dict) -> None:
        """Write results.json (the run is finished) and remove its checkpoint."""
        write_json(self.results_file, results)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)  # the run is complete
