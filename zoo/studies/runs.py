"""Training runs inside a study: one ``zoo.train.fit`` run folder each, trained once.

A finished run (its ``results.json`` exists) is read, never trained again; a run killed
midway resumes from its last finished epoch (``fit(resume=True)``: Keras ``BackupAndRestore``).
"""

from __future__ import annotations

from pathlib import Path


def finished(folder) -> bool:
    return (Path(folder) / "results.json").is_file()


def train(folder, model, dataset, *, stream=None, **settings):
    """The trained model of ``folder``, training or resuming it first if needed.
    ``settings`` go to :func:`zoo.train.fit` (recipe, epochs, seed, subset, builder
    arguments); a resumed run must be given the same ones."""
    import sys

    from zoo.saving import load_model
    from zoo.train import fit

    folder = Path(folder)
    if finished(folder):
        return load_model(folder / "model.keras")
    print(f"training {folder}", file=stream or sys.stderr, flush=True)
    settings.setdefault("validate", False)
    settings.setdefault("verbose", 2)
    resume = (folder / "config.json").is_file()  # a run begun before: continue it
    return fit(model, dataset, out_dir=folder, resume=resume, overwrite=folder.is_dir()
               and not resume, **settings).model


def read(folder) -> dict:
    """What a finished run measured: parameters, test loss and accuracy (an evaluation pass
    over the test split after training), epochs, seconds per epoch, train examples."""
    from zoo.atomic import read_json

    folder = Path(folder)
    config, result = read_json(folder / "config.json"), read_json(folder / "results.json")
    return {"params": config["params"], "test_accuracy": result["test_accuracy"],
            "test_loss": result["test_loss"], "epochs": result["epochs"],
            "seconds_per_epoch": result["train_seconds"] / result["epochs"],
            "train_examples": config["train_examples"],
            "test_examples": config["test_examples"]}
