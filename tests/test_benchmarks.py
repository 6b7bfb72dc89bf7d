"""The benchmark harness measures what it says (the timings themselves live in
benchmarks/results/, not in tests)."""

import csv

import pytest
from conftest import ROOT

import zoo
from benchmarks import report, throughput
from zoo.models.complexity import flops, parameter_counts


def test_handwritten_reference_is_the_same_network_as_zoo_resnet20():
    ours = zoo.create_model("resnet20", input_shape=(32, 32, 3))
    reference = throughput.handwritten_resnet20((32, 32, 3))
    assert parameter_counts(reference) == parameter_counts(ours)
    assert flops(reference) == flops(ours)


def test_measure_returns_every_field():
    row = throughput.measure("parallel_resnet20@unfused", batch=4, input_shape=(16, 16, 3),
                             precision="float32", steps=1, repeats=1, warmup=1)
    assert set(row) == set(throughput.FIELDS)
    assert row["params"] == parameter_counts(zoo.create_model("parallel_resnet20"))["trainable"]
    for key in ("train_images_per_s", "infer_images_per_s", "train_step_ms", "peak_memory_mb",
                "gflops_per_image"):
        assert row[key] > 0
    with pytest.raises(ValueError, match="unknown variant 'fast'"):
        throughput.build("resnet20@fast", (16, 16, 3))


def test_ratios_are_computed_from_rows_of_one_run():
    rows = [{"model": m, "backend": "tensorflow", "precision": "float32",
             "train_images_per_s": v}
            for m, v in (("resnet20", 200.0), ("handwritten_resnet20", 180.0),
                         ("parallel_resnet20", 300.0), ("parallel_resnet20@unfused", 150.0))]
    rows.append({"model": "resnet20", "backend": "jax", "precision": "float32",
                 "train_images_per_s": 100.0})
    found = {(r["backend"], r["ratio"]): r["value"] for r in throughput.ratios(rows)}
    assert found[("tensorflow", "zoo / hand-written ResNet-20 (training)")] == pytest.approx(1.111)
    assert found[("tensorflow", "fused / per-branch parallel_resnet20 (training)")] == 2.0
    assert found[("tensorflow", "parallel / sequential ResNet-20 (training)")] == 1.5
    assert found[("jax vs tensorflow", "resnet20 training")] == 0.5
    # an interleaved measurement replaces the ratio of separate rows, which is kept beside it
    what = "zoo / hand-written ResNet-20 (training)"
    paired = {("tensorflow", what): {"value": 1.02, "low": 0.99, "high": 1.05, "rounds": 3}}
    row = next(r for r in throughput.ratios(rows, paired)
               if (r["backend"], r["ratio"]) == ("tensorflow", what))
    assert (row["value"], row["low"], row["high"], row["separate"]) == (1.02, 0.99, 1.05, 1.111)


def test_paired_ratio_of_the_same_network_is_near_one():
    r = throughput.paired_ratio("resnet20", "handwritten_resnet20", batch=4,
                                input_shape=(16, 16, 3), precision="float32", steps=2,
                                repeats=3, warmup=1)
    assert r["rounds"] == 3 and r["low"] <= r["value"] <= r["high"]
    # the same network both sides: anything far from 1 would mean the timing is broken
    assert 0.3 < r["value"] < 3


def test_readme_performance_section_is_generated_from_the_results():
    readme = (ROOT / "README.md").read_text()
    section = readme.split(report.START, 1)[1].split(report.END, 1)[0]
    assert section.strip() == report.markdown().strip()
    assert "| resnet20 |" in section


def test_flop_rate_against_a_known_chip():
    row = {"gflops_per_image": 0.082, "train_images_per_s": 50_000, "precision": "mixed_bfloat16",
           "device": "gpu:NVIDIA H100 80GB HBM3"}
    rate = throughput.flop_rate(row)
    assert rate["train_tflops"] == pytest.approx(3 * 0.082 * 50_000 / 1000)  # 12.3 TFLOP/s
    assert rate["peak_tflops"] == 989.4
    assert rate["peak_share"] == pytest.approx(12.3 / 989.4, abs=1e-4)
    pcie = throughput.flop_rate({**row, "device": "gpu:NVIDIA H100 PCIe", "precision": "float32"})
    assert pcie["peak_tflops"] == 378.0
    cpu = throughput.flop_rate({**row, "device": "cpu:AMD EPYC"})
    assert cpu["peak_share"] == "" and cpu["train_tflops"] > 0


def test_fused_target_is_higher_on_a_gpu():
    rows = [{"model": m, "backend": "jax", "precision": "float32", "device": "gpu:NVIDIA H100",
             "train_images_per_s": v}
            for m, v in (("parallel_resnet20", 300.0), ("parallel_resnet20@unfused", 250.0))]
    (row,) = [r for r in throughput.ratios(rows) if r["ratio"].startswith("fused")]
    assert (row["value"], row["target"]) == (1.2, 1.5)


def test_trials_benchmark_times_a_real_search(tmp_path):
    from benchmarks import trials

    wall, frame = trials.run_search(1, grid="smoke", dataset="digits", epochs=1, sample=2,
                                    seed=0, subset=300, validation_fraction=0.25,
                                    project_dir=tmp_path / "search")
    row = trials.row(1, wall, frame, {"grid": "smoke"}, {"backend": "tensorflow"})
    assert (row["trials"], row["completed"]) == (2, 2)
    assert row["amortized_s_per_trial"] == pytest.approx(wall / 2, abs=1e-3)
    assert 0 < row["median_fit_s"] < wall / 2  # a trial's fit is part of its share of the wall
    assert set(trials.FIELDS) - set(row) == {"dataset", "epochs", "subset", "sample", "seed",
                                              "device", "keras", "zoo", "cpus", "date"}
    with pytest.raises(ValueError, match="concurrency must be >= 1, got 0"):
        trials.run_search(0, grid="smoke", dataset="digits", epochs=1, sample=2, seed=0,
                          subset=None, validation_fraction=None, project_dir=tmp_path / "x")


def test_gpu_script_calls_real_flags():
    import importlib
    import re
    import shlex
    import subprocess
    import sys

    from zoo.cli import _parser as zoo_parser

    script = ROOT / "benchmarks" / "gpu.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text().replace("\\\n", " ")
    calls = re.findall(r"python3 -m benchmarks\.(\w+) ([^|\n]*)", text)
    assert {name for name, _ in calls} == {"throughput", "trials"} and len(calls) == 3
    for name, args in calls:
        parser = importlib.import_module(f"benchmarks.{name}")._parser()
        parser.parse_args(shlex.split(args.replace('"$out"', "/tmp/out").replace("2>&1", "")))
    # the study stage's command line is one zoo's own parser takes
    (study,) = re.findall(r"python3 -m zoo\.cli (reproduce [^>\n]*)", text)
    args = zoo_parser().parse_args(shlex.split(study.replace('"$study"', "merge_and_run").replace(
        '"$limit"', "300")))
    # no --out: the study's default folder (where an old name's leftovers are taken in), the
    # folder the script makes first and packs last
    assert (args.study, args.budget, args.out, args.time_limit) == ("merge_and_run", "gpu", None, 300)
    assert 'mkdir -p "results/$study/gpu"' in text and 'tar czf "$out/study.tgz" -C "results/$study" gpu' in text
    # an old name (seed000 ...) becomes the study's name, by the runner's own map
    (code,) = re.findall(r"study=\$\(python3 -c '(.*?)' \"\$study\"\)", text, re.S)
    for given, name in (("seed001", "merge_and_run"), ("ensemble_view", "ensemble_view")):
        proc = subprocess.run([sys.executable, "-c", code, given], capture_output=True, text=True)
        assert (proc.returncode, proc.stdout) == (0, name + "\n")
    proc = subprocess.run([sys.executable, "-c", code, "seed9"], capture_output=True, text=True)
    assert proc.returncode != 0 and "study must be one of" in proc.stderr


def test_cli_startup_benchmark_writes_its_table(tmp_path, capsys):
    from benchmarks import cli_startup

    out = tmp_path / "cli.csv"
    cli_startup.main(["--repeats", "1", "--out", str(out)])  # its exit status is the timing
    rows = list(csv.DictReader(open(out)))
    assert [r["command"] for r in rows][:len(cli_startup.COMMANDS)] == list(cli_startup.COMMANDS)
    for r in rows[:-1]:
        # the import check is exact; the seconds are the benchmark's, not this test's, to judge
        assert r["imports_keras_or_tf"] == "no" and float(r["median_s"]) > 0, r
    assert rows[-1]["imports_keras_or_tf"] == "keras tensorflow"  # the comparison row
    assert "zoo --help" in capsys.readouterr().out


@pytest.mark.parametrize("pipeline", ["tf.data", "numpy"])
def test_pipeline_benchmark_counts_every_example_of_each_epoch(pipeline):
    from benchmarks import pipelines

    row = pipelines.measure(pipeline, "cifar10", 300, (12, 12, 3), "crop_flip", 64, 2)
    assert set(row) == set(pipelines.FIELDS)
    assert row["examples"] == 300 and row["repeats"] == 2 and row["augment"] == "crop_flip"
    assert row["max_images_per_s"] >= row["median_images_per_s"] > 0


def test_rerun_points_trains_each_point_and_seed_as_a_study_trial(tmp_path):
    from benchmarks import rerun_points

    out = tmp_path / "rerun.csv"
    assert rerun_points.main(["--dataset", "digits", "--points", "0,1", "--seeds", "0,1",
                              "--epochs", "1", "--out", str(out)]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [(r["point"], r["seed"]) for r in rows] == [("0", "0"), ("1", "0"), ("0", "1"),
                                                       ("1", "1")]
    for r in rows:
        assert r["backend"] == "tensorflow" and r["matmul_precision"] == "default"
        assert r["classifier"] == "zoo softmax"
        if r["status"] == "COMPLETED":  # trained below chance (ln 10), one epoch
            assert 0 < float(r["loss"]) < 2.303 and r["trained_epochs"] == "1.0"
        else:
            assert r["status"] == "FAILED" and "diverged" in r["message"]
    # appending under other columns is refused before anything trains
    old = tmp_path / "old.csv"
    old.write_text("point,seed,status\n1608,0,FAILED\n")
    with pytest.raises(SystemExit):
        rerun_points.main(["--points", "0", "--out", str(old)])
    assert old.read_text() == "point,seed,status\n1608,0,FAILED\n"
