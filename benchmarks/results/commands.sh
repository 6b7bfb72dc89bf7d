#!/usr/bin/env bash
# The exact commands behind the files in benchmarks/results/ (run from the repository root).
set -euo pipefail
# throughput_cpu*.csv: the CPU machine (2 cores, TensorFlow/JAX/PyTorch CPU wheels), MNIST
# under $ZOO_DATA_DIR for the race.
python -m benchmarks.throughput \
  --models resnet20,handwritten_resnet20,parallel_resnet20,parallel_resnet20@unfused,dmrnet20 \
  --backends tensorflow,jax,torch --batch 128 --input 32,32,3 --steps 5 --repeats 3 --warmup 3 \
  --pair-rounds 7 --accuracy-epochs 1 --accuracy-subset 4000 \
  --out benchmarks/results/throughput_cpu.csv
# trials_cpu.csv: seed-000 tuner trials on the same machine, TensorFlow backend; 8 sampled
# points, 1 epoch on 500 MNIST training images (CPU budget), 1 search vs chief + 2 workers.
python -m benchmarks.trials --grid seed000 --dataset mnist --epochs 1 --sample 8 \
  --subset 500 --validation-subset 500 --concurrency 1,2 --work-dir /tmp/zoo-trials-cpu \
  --out benchmarks/results/trials_cpu.csv
# GPU: benchmarks/gpu.sh (one device call per stage; see its header).
# cli_startup_cpu.csv: the catalogue commands in fresh interpreters, 2 cores (measured while a
# study trained in the background, so an upper bound).
python -m benchmarks.cli_startup --repeats 5 --out benchmarks/results/cli_startup_cpu.csv
# path_gradients_cpu.csv: host memory and time per backward route of PathGradients, the zoo's
# compiled pullback against a persistent GradientTape (TensorFlow, 2 cores, while a study ran).
python -m benchmarks.path_gradients --routes 60 --out benchmarks/results/path_gradients_cpu.csv
# evaluate_xla_cpu.csv: one evaluation of four pretrained models on their full test split, with
# and without XLA, each in a fresh process (TensorFlow, 2 cores, the study in the background
# paused with SIGSTOP); it decides zoo.train.evaluate's jit_compile="auto". Many runs took
# ~11 s or ~44 s whatever the model, the machine's own rhythm even with the study paused:
# compare the min_s column (the least disturbed run), not the medians.
python -m benchmarks.evaluate_xla --repeats 3 --out benchmarks/results/evaluate_xla_cpu.csv

# 2026-12-04: images per second of the two training-batch pipelines, no model (2 cores, the
# study paused with SIGSTOP): tf.data (TensorFlow installed) and NumPy (zoo.data.batches, the
# machines without TensorFlow). MNIST-sized without augmentation: 0.41M vs 2.6M images/s;
# CIFAR-sized with pad-crop-flip: 25k (tf.data, both cores) vs 24k (NumPy, one thread).
python -m benchmarks.pipelines --repeats 3 --out benchmarks/results/pipelines_cpu.csv

# rerun_points_gpu.csv: seed000's point 1608 as a gpu-budget trial (10 epochs, patience 2) on
# one H200, Keras 3.15.1 on JAX, seeds 0-2 at JAX's default and 'highest' matmul precision,
# with Keras's softmax head (commit fdd845e); one process per (seed, precision):
#   python3 -m benchmarks.rerun_points --points 1608 --seeds S --matmul-precision P --out F
# rerun_points_cpu_jax.csv: the same point on this CPU, Keras on JAX, 1 epoch, before
# (Keras's softmax: the command below run in a worktree of commit fdd845e) and after
# (zoo.layers.softmax) the zoo's head; rows in order: fdd845e (Keras's softmax), f866463 (the
# zoo's, floor 64 below the largest logit), a653497 (the zoo's, floor gap(C) = 84.0 here).
# The script had no 'classifier' column at fdd845e: it was filled in by hand for the GPU rows
# and the first row.
KERAS_BACKEND=jax python -m benchmarks.rerun_points --points 1608 --epochs 1 \
  --out benchmarks/results/rerun_points_cpu_jax.csv
