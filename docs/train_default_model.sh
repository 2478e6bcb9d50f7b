#!/usr/bin/env bash
# Retrain the embedded default adapter (SPDSegment/SPDSegmentLib/models/spd_litemedsam_small_bowel.safetensors).
# Usage: [EXTRA_CASES=CASES.json] [TRAIN_ARGS="..."] docs/train_default_model.sh [OUT_DIR] [SHARED_DATA_DIR]
# EXTRA_CASES: a case list (docs/gca_training_trial.sh writes one) appended to the data, for trials.
# TRAIN_ARGS: more options of spdsegment train, for trials (--ct-window 40 400: CT through the soft-tissue window).
# Data: six generated MR-enterography-like volumes (seeds 100-105, terminal ileum label) plus the
# TotalSegmentator CT case's small bowel (18) and colon (20). The MR case and seeds >= 1000 stay held out.
set -euo pipefail
OUT=${1:-runs/default_model}
DATA=${2:-../shared/data}/totalsegmentator
PY=${PY:-.venv/bin/python}
SPD=${SPD:-.venv/bin/spdsegment}
"$SPD" synthesize --seeds 100 101 102 103 104 105 --out "$OUT/data" --force
"$PY" - "$OUT/data/cases.json" "$(cd "$DATA" && pwd)" "${EXTRA_CASES:-}" <<'PYTHON'
import json, sys
listing, data, extra = sys.argv[1], sys.argv[2], sys.argv[3]
rows = json.load(open(listing))
rows += [{"image": f"{data}/ct/image.nii.gz", "label": f"{data}/ct/labels.nii.gz", "label_value": 18, "name": "ct-small-bowel"},
         {"image": f"{data}/ct/image.nii.gz", "label": f"{data}/ct/labels.nii.gz", "label_value": 20, "name": "ct-colon"}]
rows += json.load(open(extra)) if extra else []
json.dump(rows, open(listing, "w"), indent=1)
PYTHON
# CPU budget: frozen encoder (LoRA rank 0) with cached embeddings; on a GPU drop --lora-rank 0 and
# --cache-embeddings to train LoRA as the paper does.
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of options
"$SPD" train --data "$OUT/data/cases.json" --backbone litemedsam --out "$OUT/adapter" --variant spd \
  --lora-rank 0 --cache-embeddings --stage1-steps 600 --stage2-steps 300 --batch-slices 4 --window 3 \
  --lr 1e-3 --decoder-lr 1e-4 --seed 0 --device cpu ${TRAIN_ARGS:-}
