"""The ``zoo`` command line: list, info, train, evaluate, pretrained, publish.

User errors (unknown names, bad arguments, missing data) print one line on stderr and exit
with status 2; they never show a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _parser():
    p = argparse.ArgumentParser(prog="zoo", description="residual-zoo: residual network model zoo")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="list registered models")
    s.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'resnet*'")

    s = sub.add_parser("info", help="describe a registered model")
    s.add_argument("name")

    s = sub.add_parser("train", help="train a model on a dataset with a recipe")
    s.add_argument("name", help="a registered model name (zoo list)")
    s.add_argument("--dataset", required=True,
                   help="mnist, fashion_mnist, cifar10, cifar100, svhn_cropped or digits")
    # typed here so `zoo --help` need not import Keras; test_cli checks it lists every recipe
    s.add_argument("--recipe", default="quick",
                   help="he2016, dmrnet, procresnet, seed000, zoo, quick")
    s.add_argument("--epochs", type=int, help="override the recipe's epochs")
    s.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    s.add_argument("--lr", type=float, help="override the recipe's learning rate")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--subset", type=int, help="train on this many examples (seeded sample)")
    s.add_argument("--test-subset", type=int, help="evaluate on this many test examples")
    s.add_argument("--data-dir", help="folder with local datasets (default: $ZOO_DATA_DIR)")
    s.add_argument("--out", help="run folder for config, metrics, model and results")
    s.add_argument("--mixed-precision", action="store_true")
    s.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to --out")
    s.add_argument("--no-validation", action="store_true",
                   help="skip the per-epoch test-split metrics (the final evaluation still runs)")

    s = sub.add_parser("evaluate", help="evaluate a saved or pretrained model on a dataset")
    s.add_argument("model", help="a .keras file or a pretrained name (zoo pretrained)")
    s.add_argument("--dataset", help="default: a pretrained model's own dataset")
    s.add_argument("--split", default="test", choices=["train", "test"])
    s.add_argument("--subset", type=int)
    s.add_argument("--data-dir")

    s = sub.add_parser("pretrained", help="list the published pretrained models")
    s.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. '*.mnist'")

    s = sub.add_parser("publish", help="publish a training run as a pretrained model")
    s.add_argument("run", help="a run folder written by zoo train --out")
    s.add_argument("--to", help="pretrained folder (default: saved_models/ or $ZOO_PRETRAINED_DIR)")
    s.add_argument("--tag", help="tag after the model name (default: the dataset)")

    s = sub.add_parser("tune", help="run or resume a KerasTuner grid search")
    s.add_argument("--grid", default="seed000", help="seed000, smoke, resnet, dmrnet, procresnet")
    s.add_argument("--dataset", default="mnist")
    s.add_argument("--epochs", type=int, default=1)
    s.add_argument("--project-dir", required=True, help="where trials are written (and resumed)")
    s.add_argument("--sample", type=int, help="a seeded random sample of this many points")
    s.add_argument("--seed", type=int, default=0, help="for the sample, data subsets and init")
    s.add_argument("--shard", help="i/N: run every N-th selected point, starting at the i-th")
    s.add_argument("--subset", type=int, help="train on this many examples per trial")
    s.add_argument("--validation-subset", type=int, help="validate on this many test examples")
    s.add_argument("--max-trials", type=int, help="stop after this many trials")
    s.add_argument("--data-dir")
    s.add_argument("--workers", type=int, default=0,
                   help="run as KerasTuner chief + N workers on this host")

    s = sub.add_parser("reproduce", help="run or resume a paper reproduction study")
    s.add_argument("study", nargs="?", help="a study name (zoo reproduce --list)")
    s.add_argument("--list", action="store_true", help="list the studies and their budgets")
    s.add_argument("--budget", choices=["smoke", "cpu", "gpu"], default="smoke",
                   help="smoke: CI-sized; cpu: a few hours on 2 cores; gpu: one H100 (JAX)")
    s.add_argument("--out", help="results folder (default: results/STUDY/BUDGET)")
    s.add_argument("--report-only", action="store_true",
                   help="rewrite the report from the results already there; train nothing")
    s.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="start no new trial after this long (run in stages; rerun to resume)")

    s = sub.add_parser("tune-report", help="tables, CSV and plots from a search directory")
    s.add_argument("project_dir")
    s.add_argument("--out", help="folder for the report (default: the project directory)")
    return p


def _tune(args, argv):
    from zoo import tuning

    if args.workers:
        if args.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {args.workers}")
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
            validation_subset=args.validation_subset, data_dir=args.data_dir,
            max_trials=args.max_trials)
    frame = tuning.results(folder)
    if not frame.empty:
        print(f"{len(frame)} trials in {folder}: " + ", ".join(
            f"{v} {k}" for k, v in frame["status"].value_counts().items()))


def _run(args, argv=None):
    import zoo

    if args.command == "list":
        names = zoo.list_models(args.pattern)
        if not names:
            raise ValueError(f"no model matches {args.pattern!r}")
        for name in names:
            print(f"{name:24s} {zoo.model_info(name)['description']}")
    elif args.command == "info":
        info = zoo.model_info(args.name)
        info["params"] = int(zoo.create_model(args.name).count_params())
        print(json.dumps(info, indent=2))
    elif args.command == "train":
        from zoo.train import fit

        result = fit(args.name, args.dataset, recipe=args.recipe, epochs=args.epochs,
                     batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed,
                     subset=args.subset, test_subset=args.test_subset, data_dir=args.data_dir,
                     out_dir=args.out, mixed_precision=args.mixed_precision,
                     tensorboard=args.tensorboard, validate=not args.no_validation)
        print(f"test accuracy {result.test_accuracy:.4f}  test loss {result.test_loss:.4f}  "
              f"({result.seconds:.1f} s)")
        if result.run_dir:
            print(f"run folder: {result.run_dir}")
    elif args.command == "tune":
        _tune(args, argv if argv is not None else sys.argv[1:])
    elif args.command == "reproduce":
        from zoo import studies

        if args.list:
            for study in studies.list_studies():
                print(f"{study['name']}: {study['title']}\n  claim: {study['claim']}")
                for budget, text in study["budgets"].items():
                    print(f"  --budget {budget:5s}  {text}")
            return
        if not args.study:
            raise ValueError("name a study (zoo reproduce --list shows them)")
        summary = studies.reproduce(args.study, args.budget, out=args.out,
                                    report_only=args.report_only, time_limit=args.time_limit,
                                    argv=argv if argv is not None else sys.argv[1:])
        for line in summary.get("conclusion", []):
            print(line)
    elif args.command == "tune-report":
        from zoo.tuning import write_report

        print(f"report written to {write_report(args.project_dir, args.out)}")
    elif args.command == "pretrained":
        names = zoo.list_pretrained(args.pattern)
        if not names:
            raise ValueError(f"no pretrained model matches {args.pattern!r}")
        for name in names:
            card = zoo.pretrained_card(name)
            print(f"{name:34s} {100 * card['metrics']['test_accuracy']:6.2f}%  "
                  f"{card['params']['trainable']:>10,} params")
    elif args.command == "publish":
        from zoo.pretrained import publish

        print(f"published {publish(args.run, to=args.to, tag=args.tag)}")
    elif args.command == "evaluate":
        from zoo.train import evaluate

        model, dataset = args.model, args.dataset
        if not model.endswith(".keras") and not os.path.exists(model):
            card = zoo.pretrained_card(model)
            model, dataset = zoo.load_pretrained(model), dataset or card["dataset"]["name"]
        if dataset is None:
            raise ValueError("--dataset is required for a .keras file")
        r = evaluate(model, dataset, split=args.split, subset=args.subset,
                     data_dir=args.data_dir)
        print(f"{args.split} accuracy {r['accuracy']:.4f}  loss {r['loss']:.4f}  "
              f"({r['examples']} examples)")


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = _parser().parse_args(argv)
    from zoo.data import DataError

    try:
        _run(args, argv)
    except (ValueError, DataError, FileNotFoundError) as e:
        message = str(e).strip().splitlines()
        print(f"zoo: error: {message[0]}", file=sys.stderr)
        for line in message[1:]:
            print(f"  {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
