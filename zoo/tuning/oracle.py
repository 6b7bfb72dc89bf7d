"""``keras_tuner.GridSearch`` that survives a restart, an interruption and a full disk.

KerasTuner 1.4.8's GridSearchOracle keeps two pieces of bookkeeping -- the trials in grid
order and the queue of trials whose successor is still to be proposed -- only in memory. A
search reloaded with ``overwrite=False`` therefore dies with ``KeyError: '<trial id>'`` in
``LinkedList.next`` after its first new trial (keras-team/keras-tuner#1055, open). This
subclass saves both with the oracle's state and rebuilds them on reload; a state file
written without them is rebuilt from the trials themselves.

KerasTuner writes its JSON files in place, so a process killed (or a disk filled) mid-write
leaves a truncated ``oracle.json`` or ``trial.json`` behind and the project cannot be
reloaded. Here every one of them is written atomically, and a corrupt one that is found
anyway is named in one line with how to recover.
"""

from __future__ import annotations

import functools
import os
import time

import keras_tuner
from keras_tuner.src.tuners.gridsearch import LinkedList

from zoo.atomic import read_json, write_json


class StopSearch(Exception):
    """Raised after a finished trial when the search's time limit has passed."""


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    def _grid_order(self) -> list[str]:
        ids, index = [], self._ordered_ids._next_index[None]
        while index is not None:
            ids.append(self._ordered_ids._memory[index])
            index = self._ordered_ids._next_index[index]
        return ids

    def get_state(self):
        state = super().get_state()
        # KerasTuner's ``end_trial`` saves this state before it takes the ended trial off
        # ``ongoing_trials``; only a trial still running is ongoing, or a reload would retry it.
        state["ongoing_trials"] = {
            tuner_id: trial_id for tuner_id, trial_id in state["ongoing_trials"].items()
            if self.trials[trial_id].status == "RUNNING"}
        state["grid_order"] = self._grid_order()
        state["populate_next"] = list(self._populate_next)
        return state

    def set_state(self, state):
        super().set_state(state)
        if "grid_order" in state:
            order, queue = state["grid_order"], list(state["populate_next"])
        else:  # an older state file: sort the known trials by their values
            values = {tid: t.hyperparameters.values for tid, t in self.trials.items()}
            order = sorted(values, key=functools.cmp_to_key(
                lambda a, b: self._compare(values[a], values[b])))
            queue = [tid for tid, t in self.trials.items() if t.status != "RUNNING"]
        self._ordered_ids = LinkedList()
        for trial_id in order:
            self._ordered_ids.insert(trial_id)
        self._populate_next = queue

    def save(self):
        write_json(self._get_oracle_fname(), self.get_state(), indent=None)

    def _save_trial(self, trial):
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        write_json(path, trial.get_state(), indent=None)

    def reload(self):
        # Read every file once ourselves first, so a corrupt one is named, not a JSON traceback.
        state = read_json(self._get_oracle_fname())
        for name in sorted(os.listdir(self._project_dir)):
            path = os.path.join(self._project_dir, name, "trial.json")
            if name.startswith("trial_") and os.path.isfile(path):
                read_json(path)
        super().reload()
        self._drop_finished_retries(state.get("ongoing_trials", {}).values())
        self._adopt_orphans()

    def _drop_finished_retries(self, ongoing_ids):
        """A state file written by KerasTuner's own ``get_state`` (or by this one before it
        filtered ``ongoing_trials``) can list a trial that had already ended as ongoing, and
        ``reload`` queues every ongoing trial for a retry: that finished trial would be trained
        again and its result overwritten. Take back the retry ``reload`` queued for any trial
        that is not RUNNING (a failed trial already queued by ``end_trial`` keeps that one)."""
        for trial_id in ongoing_ids:
            trial = self.trials.get(trial_id)
            if trial is not None and trial.status != "RUNNING" and trial_id in self._retry_queue:
                queue = self._retry_queue
                del queue[len(queue) - 1 - queue[::-1].index(trial_id)]  # reload appends

    def _adopt_orphans(self):
        """A process killed after a new trial's file was written but before the oracle's state
        was leaves a RUNNING trial that the state does not know: the oracle would propose its
        values again under a new id and the old one would stay RUNNING for ever. Retry it
        under its own id instead, as KerasTuner does with the trials its state calls ongoing."""
        queued = set(self._retry_queue)
        orphans = [t for tid, t in self.trials.items()
                   if t.status == "RUNNING" and tid not in queued]
        if not orphans:
            return
        for trial in orphans:
            self._record_values(trial)  # its values count as tried
            if trial.trial_id not in self.start_order:
                self.start_order.append(trial.trial_id)
            self._retry_queue.append(trial.trial_id)
        values = {tid: t.hyperparameters.values for tid, t in self.trials.items()
                  if t.hyperparameters.values}
        self._ordered_ids = LinkedList()
        for trial_id in sorted(values, key=functools.cmp_to_key(
                lambda a, b: self._compare(values[a], values[b]))):
            self._ordered_ids.insert(trial_id)


class ResumableGridSearch(keras_tuner.GridSearch):
    """``keras_tuner.GridSearch`` with :class:`ResumableGridSearchOracle`.

    ``on_trial`` (optional) is called with each trial as it ends, after it is saved;
    ``time_limit`` (seconds) stops the search with :class:`StopSearch` after the first trial
    that ends past it, so that a search can run in stages of bounded length and resume.
    """

    def __init__(self, hypermodel=None, objective=None, max_trials=None, seed=None,
                 max_retries_per_trial=0, max_consecutive_failed_trials=3, on_trial=None,
                 time_limit=None, **kwargs):
        self.seed = seed
        self.on_trial, self.time_limit = on_trial, time_limit
        self._started = time.monotonic()
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)

    def _populate_initial_space(self):
        # ``Tuner.__init__`` reloads a project only when the tuner's own file exists, and that
        # is first written after the first trial ended, after the oracle's state. A process
        # killed in between would start the project again from nothing and retrain trial 0.
        if not self._is_worker() and os.path.isfile(self.oracle._get_oracle_fname()):
            self.oracle.reload()  # the tuner's own state is empty
            return
        super()._populate_initial_space()

    def search(self, *args, **kwargs):
        # KerasTuner prints the traceback of every failed trial; a diverged net is a result
        # here, not an error, and its message is kept in its trial.json all the same.
        from keras_tuner.src import config

        debug, config.DEBUG = config.DEBUG, False
        try:
            return super().search(*args, **kwargs)
        finally:
            config.DEBUG = debug

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_json(self._get_tuner_fname(), self.get_state(), indent=None)

    def reload(self):
        if os.path.isfile(self._get_tuner_fname()):
            read_json(self._get_tuner_fname())
        super().reload()

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if self.on_trial is not None:
            self.on_trial(trial)
        if self.time_limit is not None and time.monotonic() - self._started > self.time_limit:
            raise StopSearch(f"time limit of {self.time_limit:.0f} s reached")
