"""Training runs inside a study: one ``zoo.train.fit`` run folder each, trained once.

A finished run (its ``results.json`` exists) is read, never trained again; a run killed
midway resumes from its last finished epoch (``fit(resume=True)``: Keras ``BackupAndRestore``).
"""

from __future__ import annotations

from pathlib import Path

from zoo.run_folder import RunFolder


def finished(folder) -> bool:
    return RunFolder(folder).is_finished()


def train(folder, model, dataset, *, stream=None, **settings):
    """The trained model of ``folder``, training or resuming it first if needed.
    ``settings`` go to :func:`zoo.train.fit` (recipe, epochs, seed, subset, builder
    arguments); a resumed run must be given the same ones."""
    import sys

    from zoo.train import fit

    folder, run = Path(folder), RunFolder(folder)
    if run.is_finished():
        return run.load_model()
    print(f"training {folder}", file=stream or sys.stderr, flush=True)
    settings.setdefault("validate", False)
    settings.setdefault("verbose", 2)
    resume = run.has_config()  # a run begun before: continue it
    return fit(model, dataset, out_dir=folder, resume=resume, overwrite=folder.is_dir()
               and not resume, **settings).model


def read(folder) -> dict:
    """What a finished run measured: parameters, test loss and accuracy (an evaluation pass
    over the test split after training), epochs, seconds per epoch, train examples."""
    return RunFolder(folder).summary()
