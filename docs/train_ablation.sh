#!/usr/bin/env bash
# Train the ablation variants of docs/RESULTS.md on the default model's data and settings
# (run docs/train_default_model.sh first; it writes OUT/data/cases.json).
# Usage: docs/train_ablation.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-runs/default_model}
SPD=${SPD:-.venv/bin/spdsegment}
for variant in sam_tuning local cpd; do
  "$SPD" train --data "$OUT/data/cases.json" --backbone litemedsam --out "$OUT/ablation_$variant" \
    --variant "$variant" --lora-rank 0 --cache-embeddings --cache-dir "$OUT/embedding_cache" \
    --stage1-steps 600 --stage2-steps 300 --batch-slices 4 --window 3 --lr 1e-3 --decoder-lr 1e-4 \
    --seed 0 --device cpu
done
