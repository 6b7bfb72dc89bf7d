"""``keras_tuner.GridSearch`` that survives a restart, an interruption and a full disk.

KerasTuner 1.4.8's GridSearchOracle keeps two pieces of bookkeeping -- the trials in grid
order and the queue of trials whose successor is still to be proposed -- only in memory. A
search reloaded with ``overwrite=False`` therefore dies with ``KeyError: '<trial id>'`` in
``LinkedList.next`` after its first new trial (keras-team/keras-tuner#1055, open). This
oracle needs no such bookkeeping: its ``populate_space`` (KerasTuner's public extension
point) proposes the first combination of the grid, in GridSearch's order, that no trial on
record has, so a reloaded search knows all it needs from its trials.

KerasTuner writes its JSON files in place, so a process killed (or a disk filled) mid-write
leaves a truncated ``oracle.json`` or ``trial.json`` behind and the project cannot be
reloaded. Here every one of them is written atomically, and a corrupt one that is found
anyway is named in one line with how to recover.
"""

from __future__ import annotations

import itertools
import os
import re
import time
import warnings

import keras_tuner

from zoo import compat
from zoo.atomic import read_json, write_json
from zoo.tuning import interrupt


class StopSearch(Exception):
    """Raised after a finished trial when the search's time limit has passed."""


def _grid_values(hp) -> list:
    """One hyperparameter's values in GridSearch's order: the default first, then the rest."""
    values = list(hp.values)
    if hp.default in values:
        values.remove(hp.default)
    return [hp.default, *values]


def _key(values: dict) -> tuple:
    return tuple(sorted((name, repr(value)) for name, value in values.items()))


FINISHED = ("COMPLETED", "FAILED")  # INVALID is waiting for a retry, not finished


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    def populate_space(self, trial_id):
        space = self.get_space()
        if any(hp.conditions for hp in space.space):  # conditional spaces: KerasTuner's walk
            return super().populate_space(trial_id)
        tried = {_key(t.hyperparameters.values) for t in self.trials.values()}
        names = [hp.name for hp in space.space]
        for values in itertools.product(*(_grid_values(hp) for hp in space.space)):
            candidate = dict(zip(names, values))
            if _key(candidate) not in tried:
                return {"status": "RUNNING",
                        "values": candidate}
        if self.ongoing_trials:  # a trial still running may fail and be retried
            return {"status": "IDLE", "values": None}
        return {"status": "STOPPED", "values": None}

    @keras_tuner.synchronized
    def update_trial(self, trial_id, metrics, step=0):
        # A metric that is not defined for a trial is NaN (the previous epoch's loss of a
        # one-epoch trial); KerasTuner's tracker takes nanmin of it on every update, and
        # numpy warned "All-NaN slice encountered" for each.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "All-NaN", RuntimeWarning)
            return super().update_trial(trial_id, metrics, step=step)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        # A retried trial is set RUNNING in memory only: its file still said INVALID while it
        # ran, and a reload after a kill then took it for finished and never ran it again.
        if trial.status == "RUNNING":
            self._save_trial(trial)
        return trial

    def get_state(self):
        state = super().get_state()
        # KerasTuner's ``end_trial`` saves this state before it takes the ended trial off
        # ``ongoing_trials``; only a trial still running is ongoing, or a reload would retry it.
        state["ongoing_trials"] = {
            tuner_id: trial_id for tuner_id, trial_id in state["ongoing_trials"].items()
            if self.trials[trial_id].status == "RUNNING"}
        return state

    def save(self):
        write_json(compat.oracle_file(self), self.get_state(), indent=None)

    def _save_trial(self, trial):  # KerasTuner's name (compat.ORACLE_OVERRIDES)
        write_json(compat.trial_file(self, trial.trial_id), trial.get_state(), indent=None)

    def reload(self):
        # Read every file once ourselves first, so a corrupt one is named, not a JSON traceback.
        state = read_json(compat.oracle_file(self))
        folder = compat.oracle_project_dir(self)
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name, "trial.json")
            if name.startswith("trial_") and os.path.isfile(path):
                _check_trial_id(read_json(path), name, path)
        super().reload()
        self._drop_finished_retries(state.get("ongoing_trials", {}).values())
        self._adopt_orphans()

    def _drop_finished_retries(self, ongoing_ids):
        """A state file written by KerasTuner's own ``get_state`` (or by this one before it
        filtered ``ongoing_trials``) can list a trial that had already ended as ongoing, and
        ``reload`` queues every ongoing trial for a retry: that finished trial would be trained
        again and its result overwritten. Take back the retry ``reload`` queued for a trial
        that finished (COMPLETED or FAILED), and the second one of a trial queued twice (an
        INVALID trial that ``end_trial`` had queued already); a trial that was RUNNING, or
        INVALID and waiting, is run again."""
        queue = compat.retry_queue(self)
        for trial_id in ongoing_ids:
            trial = self.trials.get(trial_id)
            if trial is None or trial_id not in queue:
                continue
            if trial.status in FINISHED or queue.count(trial_id) > 1:
                del queue[len(queue) - 1 - queue[::-1].index(trial_id)]  # reload appends

    def _adopt_orphans(self):
        """A process killed after a new trial's file was written but before the oracle's state
        was leaves a RUNNING trial that the state does not know. Its values count as tried
        (``populate_space`` reads the trials), so retry it under its own id, as KerasTuner does
        with the trials its state calls ongoing, instead of leaving it RUNNING for ever."""
        queue = compat.retry_queue(self)
        for trial_id, trial in self.trials.items():
            if trial.status == "RUNNING" and trial_id not in queue:
                if trial_id not in self.start_order:
                    self.start_order.append(trial_id)
                queue.append(trial_id)


def _check_trial_id(trial, folder_name, path):
    """A trial's id names the folder its files are written to (``trial_<id>``): an id from a
    file that is not its folder's own (``../../elsewhere``) would carry those writes out of
    the search folder, so it is refused in one line."""
    trial_id = trial.get("trial_id") if isinstance(trial, dict) else None
    if (not isinstance(trial_id, str) or not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", trial_id)
            or folder_name != f"trial_{trial_id}"):
        raise ValueError(f"{path} holds trial id {trial_id!r}, not its folder's "
                         f"{folder_name[len('trial_'):]!r}: the search folder was edited or "
                         "mixed; remove that trial's folder to run it again")


BEST_WEIGHTS = "best.weights.h5"


def _is_worker() -> bool:
    """A worker of a distributed search (KerasTuner's documented environment variables)."""
    return "KERASTUNER_ORACLE_IP" in os.environ and \
        "chief" not in os.environ.get("KERASTUNER_TUNER_ID", "chief")


class ResumableGridSearch(keras_tuner.Tuner):
    """``keras_tuner.GridSearch``, resumable: a ``keras_tuner.Tuner`` with
    :class:`ResumableGridSearchOracle`, taking GridSearch's arguments.

    ``on_trial`` (optional) is called with each trial as it ends, after it is saved;
    ``time_limit`` (seconds) stops the search with :class:`StopSearch` after the first trial
    that ends past it, so that a search can run in stages of bounded length and resume.
    ``keep_best`` keeps the weights of the best trial so far (one file,
    ``trial_*/best.weights.h5``) for :meth:`get_best_models`. ``trial_progress`` (optional)
    gets ``epoch_begin(trial, epoch)``, ``batch_end(trial, batch)`` and ``epoch_end(trial,
    epoch, logs)`` from inside each trial. Ctrl-C stops a search at the next batch and
    leaves it resumable (:mod:`zoo.tuning.interrupt`).
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=None, seed=None,
                 hyperparameters=None, tune_new_entries=True, allow_new_entries=True,
                 max_retries_per_trial=0, max_consecutive_failed_trials=3, on_trial=None,
                 time_limit=None, keep_best=False, **kwargs):
        self.seed = seed
        self.on_trial, self.time_limit = on_trial, time_limit
        self.keep_best, self.trial_progress = keep_best, None
        self._started, self._model = time.monotonic(), None
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed,
            hyperparameters=hyperparameters, tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries, max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # where Tuner.__init__ looks for this tuner's file (its documented defaults)
        had_tuner_file = os.path.isfile(os.path.join(
            str(kwargs.get("directory") or "."), kwargs.get("project_name") or "untitled_project",
            f"{os.environ.get('KERASTUNER_TUNER_ID', 'tuner0')}.json"))
        super().__init__(oracle, hypermodel, **kwargs)
        # ``Tuner.__init__`` reloads a project only when the tuner's own file exists, and that
        # is first written after the first trial ended, after the oracle's state. A process
        # killed in between would start the project again from nothing and retrain trial 0.
        if not had_tuner_file and not kwargs.get("overwrite") and not _is_worker() and \
                os.path.isfile(compat.oracle_file(self.oracle)):
            self.oracle.reload()

    def search(self, *args, **kwargs):
        # KerasTuner prints the traceback of every failed trial; a diverged net is a result
        # here, not an error, and its message is kept in its trial.json all the same.
        with compat.quiet_trial_tracebacks(), interrupt.StopOnInterrupt():
            return super().search(*args, **kwargs)

    def save(self):
        if not _is_worker():
            self.oracle.save()
        write_json(compat.tuner_file(self), self.get_state(), indent=None)

    def reload(self):
        if os.path.isfile(compat.tuner_file(self)):
            read_json(compat.tuner_file(self))
        super().reload()

    # --- inside a trial ------------------------------------------------------------------

    def pre_create_trial(self):
        interrupt.check()  # Ctrl-C between trials: stop before a new one starts

    def run_trial(self, trial, *args, **kwargs):
        self._model = None
        try:
            results = super().run_trial(trial, *args, **kwargs)
        except Exception:
            # a KeyboardInterrupt that a library turned into another error is still a
            # Ctrl-C: the trial stays RUNNING (to be run again), not recorded as failed
            if interrupt.requested():
                raise KeyboardInterrupt("search interrupted") from None
            raise
        if self.keep_best and self._model is not None:
            self._keep_if_best(trial, results)
        self._model = None
        return results

    def on_epoch_begin(self, trial, model, epoch, logs=None):
        interrupt.check()
        if self.trial_progress is not None:
            self.trial_progress.epoch_begin(trial, epoch)

    def on_batch_end(self, trial, model, batch, logs=None):
        interrupt.check()
        if self.trial_progress is not None:
            self.trial_progress.batch_end(trial, batch)

    def on_epoch_end(self, trial, model, epoch, logs=None):
        self._model = model
        interrupt.check()
        if self.trial_progress is not None:
            self.trial_progress.epoch_end(trial, epoch, logs or {})

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.on_trial is not None:
            self.on_trial(trial)
        if self.time_limit is not None and time.monotonic() - self._started > self.time_limit:
            raise StopSearch(f"time limit of {self.time_limit:.0f} s reached")

    # --- the best trial's weights ----------------------------------------------------------

    def _objective_value(self, results):
        name = self.oracle.objective.name
        values = [r[name] for r in (results if isinstance(results, list) else [results])
                  if isinstance(r, dict) and name in r]
        return float(sum(values) / len(values)) if values else None

    def _keep_if_best(self, trial, results):
        value = self._objective_value(results)
        if value is None or value != value:  # NaN
            return
        best = self.oracle.get_best_trials(1)
        if best and best[0].score is not None:
            better = value < best[0].score if self.oracle.objective.direction == "min" \
                else value > best[0].score
            if not better:
                return
        path = os.path.join(self.get_trial_dir(trial.trial_id), BEST_WEIGHTS)
        tmp = path + ".partial.weights.h5"
        self._model.save_weights(tmp)
        os.replace(tmp, path)
        for old in best:  # one file per search: the best trial's
            old_path = os.path.join(self.get_trial_dir(old.trial_id), BEST_WEIGHTS)
            if old.trial_id != trial.trial_id and os.path.exists(old_path):
                os.remove(old_path)

    def load_model(self, trial):
        if not hasattr(self.hypermodel, "points"):  # another hypermodel: KerasTuner's way
            return super().load_model(trial)
        path = os.path.join(self.get_trial_dir(trial.trial_id), BEST_WEIGHTS)
        if not os.path.isfile(path):
            raise ValueError(
                f"trial {trial.trial_id} has no kept weights: a search keeps only its best "
                "trial's, and only with keep_best (zoo tune and zoo.tuning.tune set it); "
                "build and train the others from get_best_hyperparameters()")
        model = self.hypermodel.build(trial.hyperparameters)
        model.load_weights(path)
        return model

    def get_best_models(self, num_models=1):
        """The best trials' trained models, best first; raises one clear ValueError where a
        trial's weights were not kept (see :meth:`load_model`)."""
        if not self.oracle.get_best_trials(1):
            raise ValueError(f"no completed trial in {self.project_dir} yet: no model to load")
        return super().get_best_models(num_models)

    # --- reading the results ---------------------------------------------------------------

    def describe(self, trial) -> str:
        """A trial's hyperparameters by name: a grid point's settings, or KerasTuner's."""
        values = trial.hyperparameters.values
        points = getattr(self.hypermodel, "points", None)
        if points is not None and "point" in values:
            point = points[values["point"]]
            shown = {k: v for k, v in point.items() if k not in ("model", "dataset")}
            return f"point {values['point']}: " + ", ".join(f"{k}={v}" for k, v in shown.items())
        return ", ".join(f"{k}={v}" for k, v in values.items())

    def results_summary(self, num_trials=10):
        """KerasTuner's summary, with each trial's hyperparameters by name (a grid point's
        settings, not only its index), its metrics and status counts."""
        trials = list(self.oracle.trials.values())
        counts = {}
        for t in trials:
            counts[t.status] = counts.get(t.status, 0) + 1
        best = self.oracle.get_best_trials(num_trials)
        objective = self.oracle.objective
        print("Results summary")
        print(f"Results in {self.project_dir}")
        print(f"{len(trials)} trials: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        print(f"Showing {len(best)} best trials by {objective.name} ({objective.direction})")
        for rank, trial in enumerate(best):
            metrics = trial.metrics.metrics
            shown = [f"{name} {trial.metrics.get_last_value(name):.4g}"
                     for name in (objective.name, "val_accuracy", "loss", "params", "seconds")
                     if name in metrics]
            print()
            print(f"Trial {trial.trial_id}{' (best)' if rank == 0 else ''}: "
                  + ", ".join(shown))
            print(f"  {self.describe(trial)}")
