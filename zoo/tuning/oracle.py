"""``keras_tuner.GridSearch`` that survives a restart.

KerasTuner 1.4.8's GridSearchOracle keeps two pieces of bookkeeping -- the trials in grid
order and the queue of trials whose successor is still to be proposed -- only in memory. A
search reloaded with ``overwrite=False`` therefore dies with ``KeyError: '<trial id>'`` in
``LinkedList.next`` after its first new trial (keras-team/keras-tuner#1055, open). This
subclass saves both with the oracle's state and rebuilds them on reload; a state file
written without them is rebuilt from the trials themselves.
"""

from __future__ import annotations

import functools

import keras_tuner
from keras_tuner.src.tuners.gridsearch import LinkedList


class ResumableGridSearchOracle(keras_tuner.oracles.GridSearchOracle):
    def _grid_order(self) -> list[str]:
        ids, index = [], self._ordered_ids._next_index[None]
        while index is not None:
            ids.append(self._ordered_ids._memory[index])
            index = self._ordered_ids._next_index[index]
        return ids

    def get_state(self):
        state = super().get_state()
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


class ResumableGridSearch(keras_tuner.GridSearch):
    """``keras_tuner.GridSearch`` with :class:`ResumableGridSearchOracle`."""

    def __init__(self, hypermodel=None, objective=None, max_trials=None, seed=None,
                 max_retries_per_trial=0, max_consecutive_failed_trials=3, **kwargs):
        self.seed = seed
        oracle = ResumableGridSearchOracle(
            objective=objective, max_trials=max_trials, seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)
