"""The ``zoo`` command line: list, info, train, evaluate.

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
    s.add_argument("--recipe", default="quick", help="he2016, dmrnet, procresnet, seed000, quick")
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

    s = sub.add_parser("evaluate", help="evaluate a saved model on a dataset's test split")
    s.add_argument("model", help="path to a .keras file")
    s.add_argument("--dataset", required=True)
    s.add_argument("--split", default="test", choices=["train", "test"])
    s.add_argument("--subset", type=int)
    s.add_argument("--data-dir")
    return p


def _run(args):
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
    elif args.command == "evaluate":
        from zoo.train import evaluate

        r = evaluate(args.model, args.dataset, split=args.split, subset=args.subset,
                     data_dir=args.data_dir)
        print(f"{args.split} accuracy {r['accuracy']:.4f}  loss {r['loss']:.4f}  "
              f"({r['examples']} examples)")


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = _parser().parse_args(argv)
    from zoo.data import DataError

    try:
        _run(args)
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
