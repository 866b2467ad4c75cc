#!/usr/bin/env bash
# The prepared GPU check (one device call): the real-photo benchmark with a larger plan, the speed
# benchmark on CUDA and the determinism check. Run from the repository root on the GPU machine,
# with the benchmark's data carried there (it has no git dir of JESS and no internet):
#
#   here:   .venv/bin/python bench/real/real.py --git-dir DIR --work bench/data/real_gpu --prepare-only
#   device: run(command="bash bench/gpu/run.sh", carry=["bench/data/real_gpu/data"], timeout_s=580)
#
# Writes under $OUT (or bench/results/gpu when unset): real/ (summary.tsv, folds.tsv, ...),
# speed.txt, gpu_check.json, and the logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet -r requirements.txt -r bench/real/requirements.txt
    .venv/bin/pip install --quiet --no-deps --no-build-isolation -e .
fi
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
# determinism on CUDA (about 2 minutes)
.venv/bin/python bench/gpu/gpu_check.py --out "$OUT/gpu_check.json" 2>&1 | tee "$OUT/gpu_check.log" || true
# the real-photo benchmark with a larger plan (bench/real/plans/gpu.yaml): two thirds of the width, a
# 5-stage encoder (the schema has 4) with a wider decoder, 2000 steps, 5 seeds, bf16 training (the GPU has the time the CPU has not)
PATH=$PWD/.venv/bin:$PATH .venv/bin/python bench/real/real.py --work bench/data/real_gpu \
    --out "$OUT/real" --seeds 0,1,2,3,4 --cores 16 --plan bench/real/plans/gpu.yaml \
    --set predict.probabilities=true 2>&1 | tee "$OUT/real.log"
# the logit adjustment (predict.prior_correction) on the same folds, from the stored probabilities (seconds)
.venv/bin/python bench/real/prior.py --work bench/data/real_gpu --out "$OUT/real/prior" 2>&1 | tee "$OUT/prior.log" || true
.venv/bin/python bench/speed/speed.py --device cuda 2>&1 | tee "$OUT/speed.txt" || true
