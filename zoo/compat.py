"""The one door to Keras's and KerasTuner's private names.

The zoo uses public APIs wherever they exist (``Oracle.populate_space``, ``get_state`` /
``set_state``, ``Tuner.run_trial``, ``Tuner.load_model`` and the tuner's ``on_*`` hooks). What
has no public equivalent is reached only through this module, and :func:`check` names every
such attribute: ``tests/test_compat.py`` runs it, so an upgrade of Keras or KerasTuner that
removes or renames one fails there, loudly, instead of somewhere deep in a search or a FLOP
count. The versions tested are pinned in ``pyproject.toml`` (KERAS_TUNER_TESTED here).

Nothing here imports Keras or KerasTuner at module level.
"""

from __future__ import annotations

import contextlib
import os

KERAS_TUNER_TESTED = ">=1.4.8,<1.5"  # keep in step with pyproject.toml


# --- KerasTuner --------------------------------------------------------------------------

@contextlib.contextmanager
def quiet_trial_tracebacks():
    """KerasTuner prints the traceback of every failed trial while its module flag
    ``keras_tuner.src.config.DEBUG`` is true (the default; there is no public switch). A
    diverged net is a result in a grid study, and its message is kept in its trial.json."""
    from keras_tuner.src import config

    debug, config.DEBUG = config.DEBUG, False
    try:
        yield
    finally:
        config.DEBUG = debug


def retry_queue(oracle) -> list:
    """The oracle's queue of trial ids to run again (``Oracle._retry_queue``): the ones a
    reload found running, and the ones that ended INVALID with retries left."""
    return oracle._retry_queue


def oracle_file(oracle) -> str:
    return oracle._get_oracle_fname()


def oracle_project_dir(oracle) -> str:
    return oracle._project_dir


def trial_file(oracle, trial_id) -> str:
    return os.path.join(oracle._get_trial_dir(trial_id), "trial.json")


def tuner_file(tuner) -> str:
    return tuner._get_tuner_fname()


def is_checkpoint_callback(callback) -> bool:
    """Is this the per-trial checkpoint callback that ``Tuner.run_trial`` adds
    (``SaveBestEpoch``: a weights file per trial, at every better epoch)?"""
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    return isinstance(callback, SaveBestEpoch)


# Oracle methods the zoo overrides to write its files atomically: KerasTuner calls them by
# these names, so a rename would silently bypass the override.
ORACLE_OVERRIDES = ("_save_trial",)


# --- Keras -------------------------------------------------------------------------------

def symbolic_build(model, x, y):
    """Create a compiled model's optimizer and metric variables from a data batch
    (``Model._symbolic_build``), as ``fit`` would on its first step."""
    model._symbolic_build(data_batch=(x, y, None))


def can_symbolic_build(model) -> bool:
    return hasattr(model, "_symbolic_build")


def flatten_layers(model, include_self=False, recursive=True):
    """Every layer inside ``model`` at any depth (``Layer._flatten_layers``)."""
    return model._flatten_layers(include_self=include_self, recursive=recursive)


def own_trainable_variables(layer) -> list:
    """The trainable variables a layer owns itself, not its sublayers'
    (``Layer._trainable_variables``)."""
    return getattr(layer, "_trainable_variables", [])


def optimizer_variables_in_use(optimizer) -> list:
    """The variables an optimizer was built for (``Optimizer._trainable_variables``)."""
    return optimizer._trainable_variables


@contextlib.contextmanager
def wrapped_calls(layers, wrap):
    """Replace each layer's ``call`` with ``wrap(layer, call)`` for the duration: an instance
    attribute in front of the class's method (Keras's ``Layer.__call__`` looks ``call`` up on
    the instance), removed afterwards."""
    for layer in layers:
        layer.call = wrap(layer, layer.call)
    try:
        yield
    finally:
        for layer in layers:
            del layer.call


# --- the check ---------------------------------------------------------------------------

def _names():
    """(where, attribute, holder) for every private name above."""
    import keras
    import keras_tuner
    from keras_tuner.src import config
    from keras_tuner.src.engine import tuner_utils

    oracle = keras_tuner.oracles.GridSearchOracle(objective="val_loss")
    tuner_class = keras_tuner.Tuner
    layer = keras.layers.Dense(1)
    layer.build((None, 2))
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(optimizer="adam", loss="mse")
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    return [
        ("keras_tuner.src.config", "DEBUG", config),
        ("keras_tuner.src.engine.tuner_utils", "SaveBestEpoch", tuner_utils),
        ("keras_tuner Oracle instance", "_retry_queue", oracle),
        ("keras_tuner Oracle", "_get_oracle_fname", oracle),
        ("keras_tuner Oracle", "_project_dir", type(oracle)),
        ("keras_tuner Oracle", "_get_trial_dir", oracle),
        *[("keras_tuner Oracle", name, oracle) for name in ORACLE_OVERRIDES],
        ("keras_tuner Tuner", "_get_tuner_fname", tuner_class),
        ("keras Model", "_symbolic_build", model),
        ("keras Layer", "_flatten_layers", model),
        ("keras Layer instance", "_trainable_variables", layer),
        ("keras Optimizer instance", "_trainable_variables", optimizer),
        ("keras Layer", "call", layer),
    ]


def check() -> list[str]:
    """The private names this module needs that the installed Keras / KerasTuner lack
    (empty when all are there)."""
    return [f"{where}.{name}" for where, name, holder in _names() if not hasattr(holder, name)]
