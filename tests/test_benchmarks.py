"""The benchmark harness measures what it says (the timings themselves live in
benchmarks/results/, not in tests)."""

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
