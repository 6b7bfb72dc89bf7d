"""Seconds from launch to exit of the ``zoo`` commands that must not import TensorFlow.

    python -m benchmarks.cli_startup --repeats 5 --out benchmarks/results/cli_startup_cpu.csv

Each command runs in a fresh interpreter, as a user types it (``python -m zoo.cli ...``);
the table gives the median and the slowest of ``repeats`` runs, and whether Keras or
TensorFlow were imported (they must not be: the target is under 1 s on 2 CPU cores). A
``zoo train`` argument error is timed beside them, and ``import keras`` alone as the cost
they avoid.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "zoo --help": ["--help"],
    "zoo list": ["list"],
    "zoo info resnet20": ["info", "resnet20"],
    "zoo pretrained": ["pretrained"],
    "zoo reproduce --list": ["reproduce", "--list"],
    "zoo train resnet20 --lr nan (argument error)": ["train", "resnet20", "--lr", "nan"],
}
PROBE = ("import sys, runpy\nsys.argv = ['zoo'] + sys.argv[1:]\n"
         "from zoo.cli import main\n"
         "try:\n    main()\nexcept SystemExit:\n    pass\n"
         "heavy = sorted({'keras', 'tensorflow'} & set(sys.modules))\n"
         "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')")
FIELDS = ["command", "median_s", "max_s", "repeats", "imports_keras_or_tf", "target_s", "met",
          "cpus", "python", "date"]
TARGET_S = 1.0


def time_command(args, repeats):
    times, heavy = [], set()
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                              text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        times.append(time.perf_counter() - start)
        for line in proc.stderr.splitlines():
            if line.startswith("HEAVY="):
                heavy.update(filter(None, line[6:].split(",")))
    return times, sorted(heavy)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", help="write the table as CSV here")
    args = p.parse_args(argv)
    rows = []
    common = {"repeats": args.repeats, "target_s": TARGET_S, "cpus": os.cpu_count(),
              "python": platform.python_version(), "date": datetime.date.today().isoformat()}
    for name, cli_args in COMMANDS.items():
        times, heavy = time_command(cli_args, args.repeats)
        median = statistics.median(times)
        rows.append({"command": name, "median_s": round(median, 3), "max_s": round(max(times), 3),
                     "imports_keras_or_tf": " ".join(heavy) or "no",
                     "met": median < TARGET_S and not heavy, **common})
    times = []
    for _ in range(args.repeats):  # the cost the commands above avoid
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import keras"], capture_output=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        times.append(time.perf_counter() - start)
    rows.append({"command": "python -c 'import keras' (for comparison)",
                 "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3),
                 "imports_keras_or_tf": "keras tensorflow", "met": "", **common})
    width = max(len(r["command"]) for r in rows)
    print(f"{'command':{width}s}  median s  max s  keras/tf  <1 s")
    for r in rows:
        print(f"{r['command']:{width}s}  {r['median_s']:8.3f}  {r['max_s']:5.2f}  "
              f"{r['imports_keras_or_tf']:8s}  {r['met']}")
    if args.out:
        import io

        from zoo.atomic import write_atomic

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(args.out, buffer.getvalue())
    return 0 if all(r["met"] in (True, "") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
