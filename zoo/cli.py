"""The ``zoo`` command line: list, info, train, evaluate, pretrained, publish, tune, reproduce.

User errors (unknown names, bad arguments, missing data, unwritable folders) print one line on
stderr and exit with status 2; they never show a traceback.

Fast and quiet: ``zoo --help``, ``zoo list``, ``zoo info``, ``zoo pretrained`` and argument
errors never import Keras or TensorFlow (``import zoo`` is lazy; the catalogue and the cards
are JSON). Commands that need Keras import it with TensorFlow's C++/absl start-up lines
captured; they are shown only if the import fails, or always with ``--verbose``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

# typed here so that `zoo --help` need not import Keras; tests check them against the code
RECIPES = ("he2016", "dmrnet", "procresnet", "zoo", "quick")
DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn_cropped", "digits")
GRIDS = ("seed000", "smoke", "resnet", "dmrnet", "procresnet")
BUDGETS = ("smoke", "cpu", "gpu")

EXAMPLES = {
    "train": """example:
  zoo train resnet20 --dataset mnist --recipe zoo --epochs 4 --seed 0 --out runs/r20
  (writes runs/r20/: config.json, metrics.csv, model.keras, results.json)""",
    "tune": """example:
  zoo tune --grid seed000 --dataset mnist --sample 20 --epochs 2 --subset 5000 \\
      --project-dir runs/seed000-sample
  (run it again to resume; zoo tune-report runs/seed000-sample writes the tables)""",
    "reproduce": """example:
  zoo reproduce --list
  zoo reproduce sequential_vs_parallel --budget smoke --out /tmp/svp-smoke   # under a minute
  zoo reproduce sequential_vs_parallel --budget cpu   # hours; results/sequential_vs_parallel/cpu/
  zoo reproduce ensemble_view --budget cpu --redo gradient/   # measure path gradients again
  (seed000 ... seed003, the studies' former names, are accepted too)""",
}


def grid_name(text):
    if text in GRIDS:
        return text
    from zoo.studies.runner import ALIASES, STUDIES
    from zoo.validation import did_you_mean

    if text in STUDIES or text in ALIASES:  # a study's name is not its grid's
        searched = "the grid it searches is 'seed000'" if ALIASES.get(text, text) == \
            "sequential_vs_parallel" else "it searches no grid"
        raise argparse.ArgumentTypeError(
            f"{text!r} is a study (zoo reproduce {text}), not a grid: {searched}")
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(GRIDS)}, got {text!r}"
                                     + did_you_mean(text, GRIDS))


MAX_COUNT = 10**9  # epochs, examples, trials: larger is a typo, and overflows inside Keras


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_COUNT:,}, got {text}")
    return value


def seed_int(text):
    """A random seed: what NumPy and Keras accept (0 .. 2**32 - 1)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..{2**32 - 1}, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (``zoo train: error: ...``), without the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def workers_count(text):
    """``--workers``: 0 (one process) up to the CPU cores of this host; more processes than
    cores only slow every trial down (and each holds a copy of the data)."""
    cores = os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value <= cores:
        raise argparse.ArgumentTypeError(
            f"expected 0..{cores} (the CPU cores of this host), got {value}")
    return value


def _sub(sub, name, help):
    return sub.add_parser(name, help=help, epilog=EXAMPLES.get(name),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _parser():
    from zoo import __version__

    p = _Parser(prog="zoo", description="residual-zoo: residual network model zoo")
    p.add_argument("--version", action="version", version=f"residual-zoo {__version__}")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's own log lines and the traceback of an error "
                        "(hidden by default)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = _sub(sub, "list", "list registered models")
    s.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'resnet*'")

    s = _sub(sub, "info", "describe a registered model")
    s.add_argument("name")

    s = _sub(sub, "train", "train a model on a dataset with a recipe")
    s.add_argument("name", help="a registered model name (zoo list)")
    s.add_argument("--dataset", required=True, choices=DATASETS, metavar="DATASET",
                   help=", ".join(DATASETS))
    s.add_argument("--recipe", default="quick", help=", ".join(RECIPES))
    s.add_argument("--epochs", type=positive_int, help="override the recipe's epochs")
    s.add_argument("--batch-size", type=positive_int, help="override the recipe's batch size")
    s.add_argument("--lr", type=positive_float, help="override the recipe's learning rate")
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("--subset", type=positive_int, help="train on this many examples (seeded sample)")
    s.add_argument("--test-subset", type=positive_int, help="evaluate on this many test examples")
    s.add_argument("--data-dir", help="folder with local datasets (default: $ZOO_DATA_DIR)")
    s.add_argument("--out", help="run folder for config, metrics, model and results")
    s.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute on a GPU, bfloat16 on a CPU (variables and the "
                        "classifier stay float32); seldom faster on a CPU")
    s.add_argument("--augment", choices=("default", "crop_flip", "crop", "none"),
                   default="default",
                   help="training augmentation: default (the papers': crop + flip for CIFAR, "
                        "crop for SVHN, none for MNIST-like data), crop_flip, crop or none")
    s.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to --out")
    s.add_argument("--validation-fraction", type=float, default=0.1,
                   help="share of the training examples held out (seeded, stratified) for "
                        "the per-epoch val_* metrics; the test split is used only for the "
                        "final report (default 0.1)")
    s.add_argument("--no-validation", action="store_true",
                   help="train on the whole training split, with no per-epoch validation "
                        "(the final test evaluation still runs)")
    again = s.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last finished epoch")
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out")

    s = _sub(sub, "evaluate", "evaluate a saved or pretrained model on a dataset")
    s.add_argument("model", help="a .keras file or a pretrained name (zoo pretrained)")
    s.add_argument("--dataset", choices=DATASETS, metavar="DATASET",
                   help="default: a pretrained model's own dataset")
    s.add_argument("--split", default="test", choices=["train", "test"])
    s.add_argument("--subset", type=positive_int)
    s.add_argument("--data-dir")

    s = _sub(sub, "pretrained", "list the published pretrained models")
    s.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. '*.mnist'")

    s = _sub(sub, "publish", "publish a training run as a pretrained model")
    s.add_argument("run", help="a run folder written by zoo train --out")
    s.add_argument("--to", help="pretrained folder (default: saved_models/ or $ZOO_PRETRAINED_DIR)")
    s.add_argument("--tag", help="tag after the model name (default: the dataset)")
    s.add_argument("--name", help="publish under this registered name, if it is the same model "
                                  "(e.g. a run of resnet110 with preactivation=True as "
                                  "preresnet110)")

    s = _sub(sub, "tune", "run or resume a KerasTuner grid search")
    s.add_argument("--grid", default="seed000", type=grid_name, metavar="GRID",
                   help=", ".join(GRIDS) + " (seed000: the sequential_vs_parallel study's grid)")
    s.add_argument("--dataset", default="mnist", choices=DATASETS, metavar="DATASET")
    s.add_argument("--epochs", type=positive_int, default=1)
    s.add_argument("--project-dir", required=True, help="where trials are written (and resumed)")
    s.add_argument("--sample", type=positive_int, help="a seeded random sample of this many points")
    s.add_argument("--seed", type=seed_int, default=0, help="for the sample, data subsets and init")
    s.add_argument("--shard", help="i/N: run every N-th selected point, starting at the i-th")
    s.add_argument("--subset", type=positive_int, help="train on this many examples per trial")
    s.add_argument("--validation-fraction", type=float, default=0.1,
                   help="share of the training examples held out (seeded, stratified) for "
                        "the val_loss objective; the test split is never used (default 0.1)")
    s.add_argument("--max-trials", type=positive_int, help="stop after this many trials")
    s.add_argument("--max-mflops", type=positive_float, metavar="MFLOPS",
                   help="only points whose forward pass costs at most this many MFLOPs per "
                        "image (the sample and shard are drawn from those)")
    s.add_argument("--data-dir")
    s.add_argument("--workers", type=workers_count, default=0,
                   help="run as KerasTuner chief + N workers on this host (at most the CPU "
                        "cores; the chief's oracle listens on 127.0.0.1 only)")

    s = _sub(sub, "tune-report", "tables, CSV and plots from a search directory")
    s.add_argument("project_dir")
    s.add_argument("--out", help="folder for the report (default: the project directory)")

    s = _sub(sub, "reproduce", "run or resume a paper reproduction study")
    s.add_argument("study", nargs="?", help="a study name (zoo reproduce --list)")
    s.add_argument("--list", action="store_true", help="list the studies and their budgets")
    s.add_argument("--budget", choices=BUDGETS, default="smoke",
                   help="smoke (the default): CI-sized, a minute; cpu: hours on 2 cores, "
                        "resumed over several sessions (zoo reproduce --list says what each "
                        "trains); gpu: one H100 or H200 (JAX), in stages")
    s.add_argument("--out", help="results folder (default: results/STUDY/BUDGET)")
    s.add_argument("--report-only", action="store_true",
                   help="rewrite the report from the results already there; train nothing")
    s.add_argument("--time-limit", type=positive_float, metavar="SECONDS",
                   help="start no new trial after this long (run in stages; rerun to resume)")
    s.add_argument("--redo", metavar="KEY_PREFIX",
                   help="measure again the recorded items whose key starts with this "
                        "(e.g. gradient/ after a fix to the path sampling)")
    return p


def _list(args):
    import fnmatch

    from zoo.registry import catalog

    names = sorted(n for n in catalog() if fnmatch.fnmatchcase(n, args.pattern))
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}")
    for name in names:
        print(f"{name:24s} {catalog()[name]['description']}")


def _info(args):
    from zoo.registry import catalog, unknown_name

    models = catalog()
    if args.name not in models:
        architecture = args.name.split(".", 1)[0]
        if architecture in models and "." in args.name:
            from zoo.pretrained import list_pretrained

            if args.name in list_pretrained():
                raise ValueError(f"{args.name} is a pretrained model: `zoo pretrained "
                                 f"{args.name}` lists it, zoo.pretrained_card({args.name!r}) "
                                 f"gives its card, `zoo info {architecture}` its architecture")
        raise unknown_name(args.name, list(models))
    info = dict(models[args.name])
    info["trainable_params"] = info["params"]["trainable"]
    info["params"] = info["params"]["total"]
    print(json.dumps(info, indent=2))


def _pretrained(args):
    from zoo.pretrained import PretrainedError, list_pretrained, pretrained_card

    names = list_pretrained(args.pattern)
    if not names:
        raise ValueError(f"no pretrained model matches {args.pattern!r}")
    broken = 0
    width = max(map(len, names))  # one column, however long the study tags
    for name in names:
        try:
            card = pretrained_card(name)
        except PretrainedError as e:  # one bad card is named; the others still list
            print(f"zoo: warning: {e}", file=sys.stderr)
            broken += 1
            continue
        print(f"{name:{width}s}  {100 * card['metrics']['test_accuracy']:6.2f}%  "
              f"{card['params']['trainable']:>10,} params")
    if broken == len(names):
        raise ValueError(f"every matching card is malformed ({broken})")


def _tune(args, argv):
    from zoo import tuning

    if args.workers:
        tuning.check_search(args.grid, args.dataset, shard=args.shard, data_dir=args.data_dir)
        rest = [a for i, a in enumerate(argv) if a != "--workers" and not a.startswith("--workers=")
                and (i == 0 or argv[i - 1] != "--workers")]
        failed = tuning.launch(rest[1:], args.workers, args.project_dir)
        if failed:
            raise ValueError(f"{failed} tuner process(es) failed; see {args.project_dir}/logs/")
        folder = args.project_dir
    else:
        folder = tuning.tune(
            args.grid, args.dataset, project_dir=args.project_dir, epochs=args.epochs,
            sample=args.sample, seed=args.seed, shard=args.shard, subset=args.subset,
            validation_fraction=args.validation_fraction, data_dir=args.data_dir,
            max_trials=args.max_trials, max_mflops=args.max_mflops, verbose=0,
            progress="KERASTUNER_TUNER_ID" not in os.environ)  # workers have no oracle here
    frame = tuning.results(folder)
    if not frame.empty:
        print(f"{len(frame)} trials in {folder}: " + ", ".join(
            f"{v} {k}" for k, v in frame["status"].value_counts().items()))
        best = tuning.best_trials(frame, 1)
        if not best.empty:
            print(tuning.describe_trial(best.iloc[0], best=True))


def _with_study(argv, typed, name) -> list[str]:
    """``argv`` with its study word (``typed``, perhaps a former name) replaced by ``name``:
    the word is found by parsing, so an option's value that reads the same (``--out seed001``)
    is left as it is."""
    for i, word in enumerate(argv):
        probe = [*argv[:i], "\x00study", *argv[i + 1:]]
        if word == typed and _parser().parse_args(probe).study == "\x00study":
            return [*argv[:i], name, *argv[i + 1:]]
    return list(argv)


def _reproduce(args, argv):
    from zoo import studies

    if args.list:
        for study in studies.list_studies():
            formerly = f" (formerly {study['alias']})" if study["alias"] else ""
            print(f"{study['name']}{formerly}: {study['title']}\n  claim: {study['claim']}")
            for budget, text in study["budgets"].items():
                print(f"  --budget {budget:5s}  {text}")
        return
    if not args.study:
        raise ValueError("name a study (zoo reproduce --list shows them)")
    name = studies.study_name(args.study)
    if name != args.study:
        print(f"{args.study} is {name}'s former name", file=sys.stderr)
    summary = studies.reproduce(name, args.budget, out=args.out, report_only=args.report_only,
                                time_limit=args.time_limit, redo=args.redo,
                                argv=_with_study(argv, args.study, name))
    from zoo.studies.claims import lines

    for line in lines(summary.get("claims", [])):
        print(line)


def _run(args, argv):
    if args.command == "list":
        return _list(args)
    if args.command == "info":
        return _info(args)
    if args.command == "pretrained":
        return _pretrained(args)
    if args.command == "reproduce" and args.list:  # the study descriptions need no Keras
        return _reproduce(args, argv)
    from zoo.quiet import import_keras_quietly

    import_keras_quietly(args.verbose)
    import zoo

    if args.command == "train":
        from zoo.train import fit

        result = fit(args.name, args.dataset, recipe=args.recipe, epochs=args.epochs,
                     batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                     subset=args.subset, test_subset=args.test_subset, data_dir=args.data_dir,
                     out_dir=args.out, mixed_precision=args.mixed_precision,
                     augment=None if args.augment == "none" else args.augment,
                     tensorboard=args.tensorboard, validate=not args.no_validation,
                     validation_fraction=args.validation_fraction,
                     resume=args.resume, overwrite=args.overwrite)
        if result.val_accuracy is not None:
            print(f"validation accuracy {result.val_accuracy:.4f}  validation loss "
                  f"{result.val_loss:.4f}  (held out of the training split)")
        print(f"test accuracy {result.test_accuracy:.4f}  test loss {result.test_loss:.4f}  "
              f"(test split; {result.seconds:.1f} s)")
        if result.run_dir:
            print(f"run folder: {result.run_dir}")
    elif args.command == "tune":
        _tune(args, argv)
    elif args.command == "tune-report":
        from zoo.tuning import best_trials, describe_trial, results, write_report

        out = write_report(args.project_dir, args.out)
        best = best_trials(results(args.project_dir), 1)
        if not best.empty:
            print(describe_trial(best.iloc[0], best=True))
        print(f"report written to {out}")
    elif args.command == "reproduce":
        _reproduce(args, argv)
    elif args.command == "publish":
        from zoo.pretrained import publish

        print(f"published {publish(args.run, to=args.to, tag=args.tag, name=args.name)}")
    elif args.command == "evaluate":
        from zoo.train import evaluate

        model, dataset = args.model, args.dataset
        if not model.endswith(".keras") and not os.path.exists(model):
            card = zoo.pretrained_card(model)
            model, dataset = zoo.load_pretrained(model), dataset or card["dataset"]["name"]
            if dataset != card["dataset"]["name"]:
                print(f"zoo: warning: {args.model} was trained on {card['dataset']['name']}, "
                      f"evaluating it on {dataset}", file=sys.stderr)
        if dataset is None:
            raise ValueError("--dataset is required for a .keras file")
        r = evaluate(model, dataset, split=args.split, subset=args.subset,
                     data_dir=args.data_dir)
        print(f"{args.split} accuracy {r['accuracy']:.4f}  loss {r['loss']:.4f}  "
              f"({r['examples']} examples)")


def _error_line(e: BaseException) -> str:
    """One line for a failure: the message of a user error (ValueError, DataError, OSError:
    a file or folder the user named); the kind and first line of anything else."""
    text = " ".join(str(e).split()) or e.__class__.__name__
    if isinstance(e, OSError) and e.filename and str(e.filename) not in text:
        text = f"{text}: {e.filename}"
    if isinstance(e, MemoryError):
        text = "out of memory (an input larger than this machine can hold?)"
    elif isinstance(e, RecursionError):
        text = "an input nests too deeply to be read"
    elif isinstance(e, ImportError):
        backend = os.environ.get("KERAS_BACKEND")
        text = (f"KERAS_BACKEND={backend} cannot be used ({text}); install it or unset "
                "KERAS_BACKEND" if backend else f"a required package is missing ({text})")
    elif not isinstance(e, (ValueError, OSError)):
        text = f"{e.__class__.__name__}: {text}"
    return text if len(text) <= 500 else text[:500] + " ..."


def _quiet_stdout():
    """stdout's reader went away (``zoo pretrained | head -1``): send the rest nowhere, so
    that neither the command nor the interpreter's exit complains."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv=None):
    """Run ``zoo ARGV``; every failure is one line on stderr (``zoo COMMAND: error: ...``, as
    argparse words an argument error) and exit status 2 (``--verbose``
    adds the traceback), an interrupt 130, a closed pipe on stdout a quiet 0."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        _run(args, argv)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except Exception as e:  # noqa: BLE001  (MemoryError and RecursionError are Exceptions)
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"zoo {args.command}: error: {_error_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
