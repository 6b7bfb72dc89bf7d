"""Model cards: publishing a training run as a pretrained model, and the card's schema.

A card records what a user needs to trust and use the file: the builder and its arguments,
the input contract, the data and its licence, the recipe and seed, the time and hardware of
training, the versions, and the test metrics -- measured on the published file itself.
"""

# ruff: noqa: E402
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

from zoo.quiet import import_keras_quietly

keras = import_keras_quietly()  # TensorFlow's start-up lines stay off stderr

from zoo.atomic import exchange, remove_inside
from zoo.checksums import sha256
from zoo.data import class_names, dataset_info
from zoo.models.complexity import flops, parameter_counts
from zoo.models.stem_head import INPUT_NORMALIZATION, expects_raw_pixels
from zoo.pretrained.hub import CARD_FILE, MODEL_FILE, PretrainedError, pretrained_dir
from zoo.registry import builder_arguments, get_spec
from zoo.run_folder import RunFolder
from zoo.train.losses import ProbabilityCrossentropy

SCHEMA_VERSION = 1

# key -> type of every card field; nested dicts list their own keys
SCHEMA = {
    "schema_version": int,
    "name": str,
    "model": str,
    "tag": str,
    "builder": str,
    "config": dict,
    "input": {"shape": list, "dtype": str, "range": list, "layout": str, "mean": list,
              "std": list, "contract": str},
    "dataset": {"name": str, "train_examples": int, "test_examples": int, "licence": str},
    "metrics": {"test_accuracy": float, "test_loss": float, "split": str},
    "params": {"trainable": int, "total": int},
    "flops": int,
    "training": {"recipe": dict, "epochs": int, "images_seen": int, "seed": int,
                 "train_seconds": float, "command": str, "hardware": dict},
    "versions": {"zoo": str, "keras": str, "backend": str, "packages": dict},
    "file": {"name": str, "sha256": str, "bytes": int},
    "date": str,
}


# the training curves a card may carry beside its model: the run's per-epoch log and a plot
CURVES = {"csv": "metrics.csv", "plot": "training_curves.png"}


VALIDATION_LABELS = {"train": "validation (held out of the training split)",
                     "test": "test split (monitoring only)"}


def plot_curves(csv_path, png_path, title, *, milestones=(), gamma=0.1,
                validation="train") -> None:
    """Loss and accuracy per epoch from a run's ``metrics.csv`` (validation too when the run
    measured it), with the learning-rate steps (``milestones``: fractions of training) marked,
    as a small PNG. ``validation``: the split the ``val_*`` columns come from ("train": held
    out of it; "test": runs that monitored the test split), named in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import pandas as pd

    log = pd.read_csv(csv_path)
    epoch = log["epoch"] + 1
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for key, ax in (("loss", axes[0]), ("accuracy", axes[1])):
        ax.plot(epoch, log[key], marker="o", ms=3, label=f"train {key} (running)")
        if log.get(f"val_{key}") is not None and log[f"val_{key}"].notna().any():
            ax.plot(epoch, log[f"val_{key}"], marker="o", ms=3,
                    label=f"{VALIDATION_LABELS[validation]} {key}")
        for i, f in enumerate(milestones):  # x = epochs done; the lr steps after f * epochs
            ax.axvline(f * len(log), color="grey", ls=":", lw=1,
                       label=f"lr x{gamma:g}" if i == 0 else None)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.set_title(f"{key} per epoch", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80, metadata={"Software": None})  # no version stamp: stable bytes
    plt.close(fig)


INPUT_CONTRACT = ("raw pixels 0-255 (uint8 values as float), channels last; an image whose "
                  "largest value is at most 1 is read as a [0, 1] image and multiplied by 255 "
                  "first; the model standardizes them itself (do not standardize them: "
                  "standardized values are read as raw pixels, and the answers are wrong); "
                  "output: class probabilities (softmax)")


def validate_card(card: dict) -> None:
    """Raise ``PretrainedError`` naming the first field that is missing or of the wrong type."""

    def walk(value, schema, where):
        for key, kind in schema.items():
            if key not in value:
                raise PretrainedError(f"card {where or ''}{key!r} is missing")
            if isinstance(kind, dict):
                if not isinstance(value[key], dict):
                    raise PretrainedError(f"card field {where}{key} must be an object")
                walk(value[key], kind, f"{where}{key}.")
            elif not isinstance(value[key], kind) or isinstance(value[key], bool) != (kind is bool):
                raise PretrainedError(
                    f"card field {where}{key} must be {kind.__name__}, "
                    f"got {type(value[key]).__name__}"
                )

    walk(card, SCHEMA, "")
    if card["name"] != f"{card['model']}.{card['tag']}":
        raise PretrainedError(f"card name {card['name']!r} is not model.tag")


def _command(config, results):
    """The ``zoo train`` command that repeats the run, every argument shell-quoted (they come
    from a run folder's config.json, which anybody can edit)."""
    import shlex

    info = dataset_info(config["dataset"])
    parts = [config["model"], "--dataset", config["dataset"], "--recipe",
             config["recipe"]["name"], "--epochs", str(results["epochs"]),
             "--seed", str(config["seed"])]
    if config["train_examples"] < info.sizes["train"]:
        parts += ["--subset", str(config["train_examples"])]
    if config.get("augment", info.augment) != info.augment:  # not the dataset's default
        parts += ["--augment", config["augment"] or "none"]
    if config.get("mixed_precision"):
        parts += ["--mixed-precision"]
    from zoo.train.recipes import RECIPES  # the recipe's settings a run overrode, as flags

    registered = RECIPES[config["recipe"]["name"]]
    for flag, key in (("--lr", "learning_rate"), ("--batch-size", "batch_size")):
        if key in config["recipe"] and config["recipe"][key] != getattr(registered, key):
            parts += [flag, str(config["recipe"][key])]
    return "zoo train " + " ".join(shlex.quote(p) for p in parts) + " --no-validation"


def _cell(text) -> str:
    """Free text from a run's files as one Markdown table cell: on one line, no ``|`` that
    would end the cell, no raw HTML."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _check_run(run: RunFolder, config, results, model):
    """The model file must be what the run's config says was trained: the same registered
    builder and arguments give the same layers and parameter count; and the run finished."""
    import math

    from zoo.registry import create_model

    run_dir = run.path
    missing = [k for k in ("model", "model_config", "dataset", "recipe", "seed")
               if k not in config]
    if missing:
        raise PretrainedError(f"{run_dir}/config.json lacks {', '.join(missing)}")
    # the card repeats these as a command and in its README: only values zoo train writes
    from zoo.train.recipes import RECIPES

    recipe = config["recipe"].get("name") if isinstance(config["recipe"], dict) else None
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise PretrainedError(f"{run_dir}/config.json names recipe {recipe!r}, not one of the "
                              f"zoo's ({', '.join(RECIPES)})")
    if isinstance(config["seed"], bool) or not isinstance(config["seed"], int):
        raise PretrainedError(f"{run_dir}/config.json has seed {config['seed']!r}, not a "
                              "whole number")
    info = dataset_info(config["dataset"])
    expected = create_model(config["model"], input_shape=info.shape,
                            num_classes=info.num_classes, **config["model_config"])
    found = (model.count_params(), [type(layer).__name__ for layer in model.layers])
    wanted = (expected.count_params(), [type(layer).__name__ for layer in expected.layers])
    if found != wanted or config.get("params", found[0]) != found[0]:
        raise PretrainedError(
            f"{run_dir}: {MODEL_FILE} ({found[0]:,} parameters, {len(found[1])} layers) is not "
            f"the {config['model']} its config.json describes ({wanted[0]:,} parameters, "
            f"{len(wanted[1])} layers); the folder mixes two runs, so it was not published")
    if not all(isinstance(results.get(k), (int, float)) and math.isfinite(results[k])
               for k in ("test_loss", "test_accuracy")):
        raise PretrainedError(f"{run_dir}: results.json has no finite test loss and accuracy")
    _check_epochs(run, results)


def _check_epochs(run: RunFolder, results):
    """The run's metrics.csv lists each epoch once, 0..epochs-1: a log that repeats an epoch
    (a run trained again on top of itself) would give the card a wrong curve and time."""
    run_dir, epochs = run.path, run.logged_epochs()
    if epochs is None:
        return
    repeated = sorted({e for e in epochs if epochs.count(e) > 1}, key=lambda e: int(e or -1))
    if repeated:
        raise PretrainedError(
            f"{run_dir}: metrics.csv lists epoch(s) {', '.join(map(str, repeated))} more than "
            "once (the run was trained again on top of itself), so its curves and time are "
            "wrong; train it again with --overwrite")
    if len(epochs) != int(results.get("epochs", len(epochs))):
        raise PretrainedError(
            f"{run_dir}: metrics.csv has {len(epochs)} epochs, results.json says "
            f"{results.get('epochs')}; train it again with --overwrite")


def _as_registered(config, name) -> dict:
    """The run's config with its model named ``name``: allowed when ``name`` is the same
    builder and its registered defaults are arguments the run was trained with (a study's
    ``resnet110`` with ``preactivation=True`` is ``preresnet110``); the other arguments stay
    as overrides."""
    from zoo.registry import get_spec

    run, new = get_spec(config["model"]), get_spec(name)
    args = {**run.defaults, **config["model_config"]}
    args.pop("name", None)  # the Keras model's name, not an architecture argument
    if new.builder is not run.builder or any(args.get(k) != v for k, v in new.defaults.items()):
        raise PretrainedError(
            f"{name!r} ({new.builder.__name__} with {new.defaults}) is not the model this run "
            f"trained ({config['model']!r} with {config['model_config']})")
    return {**config, "model": name,
            "model_config": {k: v for k, v in args.items() if k not in new.defaults}}


def publish(run_dir, *, to=None, tag=None, name=None, batch_size=500) -> Path:
    """Publish a ``zoo train --out RUN`` folder as ``<to>/<model>.<tag>/`` (tag: the dataset).
    ``name`` publishes it under another registered name that describes the same model
    (checked: same builder, and that name's defaults are the run's arguments).

    The model is re-saved without optimizer state, loaded back with ``safe_mode=True`` and
    evaluated on the full test split; the card records that evaluation. The folder appears
    complete or not at all.
    """
    from zoo.validation import name as checked_name

    if tag is not None:  # names become folder names: one pattern, checked before any I/O
        checked_name("--tag", tag)
    if name is not None:
        checked_name("--name", name)
    run = RunFolder(run_dir)
    config, results, model = _read_run(run, name)
    tag = tag or dataset_info(config["dataset"]).name
    name = f"{checked_name('the model name in config.json', config['model'])}.{tag}"
    root = pretrained_dir(to)
    root.mkdir(parents=True, exist_ok=True)
    target, staging, old = root / name, root / f".{name}.staging", root / f".{name}.old"
    _recover(root, target, old)
    for leftover in (staging, old):  # what a killed publish left
        remove_inside(leftover, root)
    staging.mkdir()
    try:
        _stage(run, staging, config, results, model, name=name, tag=tag, batch_size=batch_size)
        _swap_in(staging, target, old)
        remove_inside(old, root)
    finally:
        remove_inside(staging, root)  # after a swap: the previous publication
    return target


def _read_run(run: RunFolder, name):
    """A finished run's config (its model named ``name`` if given), results and model,
    checked: a model that normalizes its own input, the one its config describes."""
    try:
        config, results = run.config(), run.results()
    except FileNotFoundError as e:
        raise PretrainedError(
            f"{run.path} is not a finished training run ({e.filename} is missing)") from None
    if name is not None:
        config = _as_registered(config, name)
    model = run.load_model(compile=False)
    if not expects_raw_pixels(model):
        raise PretrainedError(
            f"{run.path}: published models must normalize their own input; train with "
            "input_normalization (the default of zoo train)"
        )
    _check_run(run, config, results, model)
    return config, results, model


def _stage(run: RunFolder, staging: Path, config, results, model, *, name, tag,
           batch_size) -> None:
    """Write the publication into ``staging``: the model re-saved without optimizer state,
    its card (from an evaluation of that file on the full test split) and README, and the
    run's training curves."""
    from zoo.data import load  # the evaluation data
    from zoo.saving import load_model

    model.save(staging / MODEL_FILE)  # uncompiled: weights and architecture only
    published = load_model(staging / MODEL_FILE)
    published.compile(loss=ProbabilityCrossentropy(), metrics=["accuracy"])
    x, y = load(dataset_info(config["dataset"]).name, "test", normalize=None)
    loss, accuracy = published.evaluate(x, y, batch_size=batch_size, verbose=0)
    card = _card(published, staging, config, results, name=name, tag=tag,
                 test_examples=len(y), loss=loss, accuracy=accuracy)
    if run.metrics_file.is_file():
        shutil.copyfile(run.metrics_file, staging / CURVES["csv"])
        # runs from before zoo train held validation out monitored the test split
        split = "train" if config.get("validation") else "test"
        plot_curves(staging / CURVES["csv"], staging / CURVES["plot"], name,
                    milestones=config["recipe"].get("milestones", ()),
                    gamma=config["recipe"].get("gamma", 0.1), validation=split)
        card["training"]["curves"] = dict(CURVES)
        card["training"]["curves_measured_on"] = _curve_splits(staging / CURVES["csv"], split)
    validate_card(card)
    (staging / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    (staging / "README.md").write_text(card_markdown(card))


def _card(published, staging: Path, config, results, *, name, tag, test_examples, loss,
          accuracy) -> dict:
    """The card of ``published`` (the model file in ``staging``) from its run's files and its
    test evaluation (training curves: added by :func:`_stage`)."""
    info = dataset_info(config["dataset"])
    norm = published.get_layer(INPUT_NORMALIZATION)
    spec = get_spec(config["model"])
    env = config["environment"]
    card = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "model": config["model"],
        "tag": tag,
        "builder": f"{spec.builder.__module__}.{spec.builder.__qualname__}",
        "config": builder_arguments(spec.builder, {
            **spec.defaults, "input_shape": list(info.shape),
            "num_classes": info.num_classes, **config["model_config"]}),
        "input": {
            "shape": list(info.shape),
            "dtype": "float32",
            "range": [0, 255],
            "layout": "channels_last",
            "mean": [float(v) for v in keras.ops.convert_to_numpy(norm.mean).reshape(-1)],
            "std": [float(v) ** 0.5
                    for v in keras.ops.convert_to_numpy(norm.variance).reshape(-1)],
            "contract": INPUT_CONTRACT,
        },
        "dataset": {"name": info.name, "train_examples": int(config["train_examples"]),
                    "test_examples": int(test_examples), "licence": info.licence},
        "metrics": {"test_accuracy": round(float(accuracy), 6),
                    "test_loss": round(float(loss), 6), "split": "test"},
        "params": parameter_counts(published),
        "flops": flops(published),
        "training": {
            "recipe": config["recipe"],
            "epochs": int(results["epochs"]),
            "images_seen": int(results["epochs"]) * int(config["train_examples"]),
            "seed": int(config["seed"]),
            "train_seconds": float(results["train_seconds"]),
            "command": _command(config, results),
            "hardware": {k: env[k] for k in ("processor", "cpus", "devices", "platform")},
        },
        "versions": {"zoo": env["zoo"], "keras": env["versions"].get("keras", ""),
                     "backend": env["backend"], "packages": env["versions"]},
        "file": {"name": MODEL_FILE, "sha256": sha256(staging / MODEL_FILE),
                 "bytes": (staging / MODEL_FILE).stat().st_size},
        "date": datetime.date.today().isoformat(),
    }
    card["classes"] = class_names(info.name)
    card["training"]["validation"] = config.get("validation")
    return card


def _swap_in(staging: Path, target: Path, old: Path) -> None:
    """Make ``staging`` the publication ``target``: at every instant either the previous or
    the new model is published. Where the two folders can be exchanged in one step that is
    all; elsewhere the previous one is renamed to ``old`` first, and until the second rename
    ``old`` stands in for it (``zoo.pretrained.hub``; :func:`_recover` renames it back if the
    process was killed in between)."""
    if not target.exists():
        staging.rename(target)
    elif not exchange(staging, target):
        target.rename(old)
        staging.rename(target)


def _recover(root: Path, target: Path, old: Path) -> None:
    """Undo a publish killed between its two renames: the previous model is published again."""
    if old.is_dir() and not old.is_symlink() and not target.exists():
        old.rename(target)


# Hugging Face Hub ids of the data sets (for the cards' front matter)
HF_DATASETS = {"mnist": ("ylecun/mnist", "MNIST"),
               "fashion_mnist": ("zalando-datasets/fashion_mnist", "Fashion-MNIST"),
               "cifar10": ("uoft-cs/cifar10", "CIFAR-10"),
               "cifar100": ("uoft-cs/cifar100", "CIFAR-100"),
               "svhn_cropped": ("ufldl-stanford/svhn", "SVHN (cropped digits)")}
LICENSE = "apache-2.0"  # the project's licence, which the published weights share


def front_matter(card: dict) -> str:
    """The YAML block a Hugging Face model card starts with: library, licence, data set and
    a ``model-index`` of the measured metrics (written by hand: no YAML dependency)."""
    d, m = card["dataset"], card["metrics"]
    hf_id, pretty = HF_DATASETS.get(d["name"], (None, d["name"]))
    lines = ["---", "library_name: keras", f"license: {LICENSE}", "tags:",
             "- image-classification", "- residual-zoo", f"- {card['model']}"]
    if hf_id:
        lines += ["datasets:", f"- {hf_id}"]
    lines += ["metrics:", "- accuracy", "model-index:", f"- name: {card['name']}",
              "  results:", "  - task:", "      type: image-classification",
              "      name: Image Classification", "    dataset:",
              f"      type: {hf_id or d['name']}", f"      name: {pretty}",
              f"      split: {m.get('split', 'test')}", "    metrics:",
              "    - type: accuracy", f"      value: {m['test_accuracy']}",
              f"      name: Test accuracy ({d['test_examples']} images)",
              "    - type: loss", f"      value: {m['test_loss']}",
              "      name: Test cross-entropy", "---", ""]
    return "\n".join(lines)


def card_markdown(card: dict) -> str:
    """The card as a human-readable model card (generated; never edit it by hand), with the
    Hugging Face front matter first."""
    t, d, m = card["training"], card["dataset"], card["metrics"]
    hw = t["hardware"]
    recipe = t["recipe"]
    lines = [
        front_matter(card),
        f"# {card['name']}",
        "",
        f"`{card['model']}` from residual-zoo trained on **{d['name']}**. "
        "Generated from `card.json` by `zoo publish`; do not edit.",
        "",
        "```python",
        "import zoo",
        f"model = zoo.load_pretrained({card['name']!r})  # checks the sha256 first",
        "probabilities = model.predict(images)  # images: raw 0-255 pixels, "
        f"shape (N, {', '.join(map(str, card['input']['shape']))})",
        "```",
        "",
        "| | |",
        "|---|---|",
        f"| test accuracy | {100 * m['test_accuracy']:.2f}% ({d['test_examples']:,} test images) |",
        f"| test loss | {m['test_loss']:.4f} |",
        f"| parameters | {card['params']['trainable']:,} trainable, {card['params']['total']:,} total |",
        f"| FLOPs per image | {card['flops'] / 1e6:.1f} M |",
        f"| input | {card['input']['contract']} |",
        f"| training data | {d['train_examples']:,} {d['name']} training images, "
        f"{t['images_seen']:,} seen in training |",
        f"| recipe | {_cell(recipe['name'])}: {_cell(recipe.get('description', ''))}, "
        f"{t['epochs']} epoch(s), seed {t['seed']} |",
        f"| training time | {t['train_seconds']:.0f} s on {_cell(hw['cpus'])} CPU(s) "
        f"({_cell(hw['processor'])}), {_cell(card['versions']['backend'])} backend |",
        f"| versions | zoo {_cell(card['versions']['zoo'])}, "
        f"keras {_cell(card['versions']['keras'])} |",
        f"| classes | {_classes_text(card)} |",
        f"| validation | {_validation_text(card)} |",
        f"| data licence | {d['licence']} |",
        f"| sha256 | `{card['file']['sha256']}` |",
        f"| date | {card['date']} |",
        "",
        *_curves_markdown(t),
        "Reproduce:",
        "",
        "```sh",
        t["command"],
        "```",
        "",
        "Builder: `" + card["builder"] + "` with",
        "",
        "```json",
        json.dumps(card["config"], indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def _curve_splits(csv_path, validation_split) -> dict:
    """Which data each column of a run's metrics.csv was measured on (for the card)."""
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    measured = any(row.get("val_loss") not in (None, "", "NA") for row in rows)
    splits = {"loss, accuracy": "the training stream (running mean over each epoch, "
                                "augmented as trained)"}
    if measured:
        splits["val_loss, val_accuracy"] = {
            "train": "a seeded, stratified part held out of the training split (the model "
                     "never trained on it)",
            "test": "the test split, for monitoring only (this run predates held-out "
                    "validation; no model or epoch was selected on it)"}[validation_split]
    return splits


def _curves_markdown(training: dict) -> list[str]:
    curves = training.get("curves")
    if not curves:
        return ["Training curves: not kept for this model (published before the zoo kept them).",
                ""]
    columns = training.get("curves_measured_on", {"loss, accuracy": "the training stream"})
    return ["## Training curves", "",
            f"![loss and accuracy per epoch]({curves['plot']})", "",
            f"Per-epoch values: [`{curves['csv']}`]({curves['csv']}), measured during training:",
            "", *[f"- `{k}`: {v}" for k, v in columns.items()], ""]


def _validation_text(card) -> str:
    held = card["training"].get("validation")
    if not held:
        return ("none held out: trained on the whole training split; the accuracy and loss "
                "above are on the test split")
    return (f"{held['examples']:,} images ({held['fraction']:g}) held out of the training split "
            "(seeded, stratified) for the per-epoch val_* numbers; the accuracy and loss above "
            "are on the test split")


def _classes_text(card) -> str:
    names = card.get("classes") or []
    if names == [str(i) for i in range(len(names))]:
        return (f"the digits 0-{len(names) - 1} (label = digit); "
                f"`zoo.decode_predictions(probabilities, {card['name']!r})`")
    shown = ", ".join(f"{i} {n}" for i, n in enumerate(names[:20]))
    more = f", ... ({len(names)} in all)" if len(names) > 20 else ""
    return (shown + more + "; `zoo.decode_predictions(probabilities, "
            f"{card['name']!r})` names them") if names else "not recorded"


def refresh_cards(root=None) -> list[Path]:
    """Bring every published card up to the current fields without touching its model: the
    class names (``classes``) and, for kept curves, which split each column of metrics.csv
    comes from (``training.curves.columns``; the published runs monitored the test split) and
    the plot drawn again with that legend; then the README."""
    from zoo.atomic import write_atomic
    from zoo.pretrained.hub import CARD_FILE, list_pretrained, pretrained_dir, read_card

    written = []
    for name in list_pretrained(root=root):
        folder = pretrained_dir(root) / name
        card = read_card(folder / CARD_FILE)
        card.setdefault("classes", class_names(card["dataset"]["name"]))
        card["training"].setdefault("validation", None)  # the published runs held none out
        curves = card["training"].get("curves")
        if curves and (folder / curves["csv"]).is_file():
            # val_* columns of a run without a held-out part came from the test split
            split = "train" if card["training"]["validation"] else "test"
            recipe = card["training"]["recipe"]
            plot_curves(folder / curves["csv"], folder / curves["plot"], name,
                        milestones=recipe.get("milestones", ()), gamma=recipe.get("gamma", 0.1),
                        validation=split)
            card["training"]["curves_measured_on"] = _curve_splits(folder / curves["csv"], split)
        validate_card(card)
        write_atomic(folder / CARD_FILE, json.dumps(card, indent=2) + "\n")
        write_atomic(folder / "README.md", card_markdown(card))
        written.append(folder)
    return written


def rewrite_readmes(root=None) -> list[Path]:
    """Regenerate every published model's README.md from its card.json."""
    from zoo.atomic import write_atomic
    from zoo.pretrained.hub import CARD_FILE, list_pretrained, pretrained_dir, read_card

    written = []
    for name in list_pretrained(root=root):
        folder = pretrained_dir(root) / name
        write_atomic(folder / "README.md", card_markdown(read_card(folder / CARD_FILE)))
        written.append(folder / "README.md")
    return written


if __name__ == "__main__":  # python -m zoo.pretrained.cards: bring the cards up to date
    for path in refresh_cards():
        print(path)
