"""Training runs inside a study: one ``zoo.train.fit`` run folder each, trained once.

A finished run (its ``results.json`` exists) is read, never trained again; a run killed
midway resumes from its last finished epoch (``fit(resume=True)``: Keras ``BackupAndRestore``).
A finished run whose network was published (``zoo publish``) keeps its model once, in
``saved_models/``: its run folder commits config, curves and results without ``model.keras``,
and :func:`train` loads the published copy after checking that its card describes this run.
"""

from __future__ import annotations

from pathlib import Path

from zoo.run_folder import RunFolder


def finished(folder) -> bool:
    return RunFolder(folder).is_finished()


def train(folder, model, dataset, *, stream=None, published=None, **settings):
    """The trained model of ``folder``, training or resuming it first if needed.
    ``settings`` go to :func:`zoo.train.fit` (recipe, epochs, seed, subset, builder
    arguments); a resumed run must be given the same ones. ``published``: the pretrained
    name this run was published as, loaded when the finished run has no ``model.keras``."""
    import sys

    from zoo.train import fit

    folder, run = Path(folder), RunFolder(folder)
    if run.is_finished():
        if published and not run.model_file.is_file():
            return load_published(run, published)
        return run.load_model()
    print(f"training {folder}", file=stream or sys.stderr, flush=True)
    settings.setdefault("validate", False)
    settings.setdefault("verbose", 2)
    resume = run.has_config()  # a run begun before: continue it
    return fit(model, dataset, out_dir=folder, resume=resume, overwrite=folder.is_dir()
               and not resume, **settings).model


def train_each(jobs, *, deadline, progress, stream=None) -> bool:
    """Train every job not yet finished, in order, until ``deadline``
    (:class:`zoo.studies.base.Deadline`) has passed; False if it stopped there. A job is
    ``(label, folder, model, dataset, settings)``, ``settings`` going to :func:`train`;
    each one trained adds a line to ``progress`` with its test accuracy."""
    for label, folder, model, dataset, settings in jobs:
        if finished(folder):
            continue
        if deadline.passed():
            return False
        train(folder, model, dataset, stream=stream, **settings)
        progress.update(detail=f"{label}: test accuracy {read(folder)['test_accuracy']:.4f}")
    return True


def frame(found, columns):
    """A table of the finished runs among ``found`` (``(labels, folder)`` pairs: ``labels``
    a dict naming the run, such as dataset, model and seed), one row each: the labels, then
    what :func:`read` gives, as ``columns`` select. Runs not finished are left out."""
    import pandas as pd

    rows = [{**labels, **read(folder)} for labels, folder in found if finished(folder)]
    return pd.DataFrame(rows, columns=columns)


def read(folder) -> dict:
    """What a finished run measured: parameters, test loss and accuracy (an evaluation pass
    over the test split after training), epochs, seconds per epoch, train examples."""
    return RunFolder(folder).summary()


def load_published(run: RunFolder, name: str):
    """The published model ``name``, after checking that its card was made from ``run``: the
    same builder and builder arguments, dataset, seed, recipe and epochs, and the run's own
    test accuracy, test loss and training seconds (as the card rounds them), which no other
    run repeats. A ValueError names what differs."""
    from zoo.pretrained import load_pretrained, pretrained_card
    from zoo.registry import get_spec

    card, config, result = pretrained_card(name), run.config(), run.results()
    training, spec = card["training"], get_spec(config["model"])
    builder = f"{spec.builder.__module__}.{spec.builder.__qualname__}"
    arguments = {k: v for k, v in {**spec.defaults, **config["model_config"]}.items()
                 if k != "name"}
    expected = {"builder": (card["builder"], builder),
                **{k: (card["config"].get(k), v) for k, v in arguments.items()},
                "dataset": (card["dataset"]["name"], config["dataset"]),
                "seed": (training.get("seed"), config["seed"]),
                "recipe": (training["recipe"]["name"], config["recipe"]["name"]),
                "epochs": (training.get("epochs"), result["epochs"]),
                "test accuracy": (card["metrics"]["test_accuracy"],
                                  round(result["test_accuracy"], 4)),
                "test loss": (card["metrics"]["test_loss"], round(result["test_loss"], 6)),
                "training seconds": (training.get("train_seconds"), result["train_seconds"])}
    differ = [f"{k} {a!r} vs {b!r}" for k, (a, b) in expected.items() if a != b]
    if differ:
        raise ValueError(f"{run.path}: the published {name!r} is not this run's network "
                         f"({'; '.join(differ)}); without the run's model.keras, retrain it "
                         "(delete its results.json)")
    return load_pretrained(name)
