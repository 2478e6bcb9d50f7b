#!/usr/bin/env bash
# The figures of docs/PERFORMANCE.md. Usage: docs/run_benchmarks.sh cpu|cuda [OUT_DIR]
# (ViT-B runs with random weights unless SAM_VIT_B=/path/to/sam_vit_b_01ec64.pth is set: timing only.)
set -euo pipefail
DEVICE=${1:-cpu}
OUT=${2:-runs/bench_$DEVICE}
SPD=${SPD:-.venv/bin/spdsegment}
VIT=sam_vit_b${SAM_VIT_B:+:$SAM_VIT_B}
mkdir -p "$OUT"
run() { local name=$1; shift; echo "== $name: spdsegment bench --device $DEVICE $*"; "$SPD" bench --device "$DEVICE" "$@" --json "$OUT/$name.json" --force; }
if [ "$DEVICE" = cuda ]; then
  run litemedsam_every_slice --slices 1000 --prompts every-slice
  run litemedsam_centerline --slices 100 --prompts centerline
  run vit_b_every_slice --backbone "$VIT" --slices 100 --prompts every-slice
  run vit_b_every_slice_compiled --backbone "$VIT" --slices 100 --prompts every-slice --compile --skip-stock
else
  run litemedsam_every_slice --slices 100 --prompts every-slice
  run litemedsam_centerline --slices 100 --prompts centerline
  run litemedsam_centerline_bf16 --slices 100 --prompts centerline --precision bf16 --skip-stock
  run vit_b_every_slice --backbone "$VIT" --slices 2 --prompts every-slice
fi
