#!/usr/bin/env bash
# Regenerate docs/RESULTS.md and its plots in one command: every method on the same prompts, on held-out
# generated volumes and real cases held out by modality and structure, plus the robustness curve.
# Usage: docs/make_results.sh [TRAIN_DIR] [SHARED_DATA_DIR] [OUT_DIR]
#   TRAIN_DIR holds ablation_{sam_tuning,local,cpd}/adapter.safetensors from docs/train_ablation.sh;
#   spd is the embedded default model.
set -euo pipefail
TRAIN=${1:-runs/default_model}
DATA=$(cd "${2:-../shared/data}/totalsegmentator" && pwd)
OUT=${3:-runs/results}
PY=${PY:-.venv/bin/python}
SPD=${SPD:-.venv/bin/spdsegment}
DEFAULT=SPDSegment/SPDSegmentLib/models/spd_litemedsam_small_bowel.safetensors
"$SPD" synthesize --seeds 7001 7002 7003 7004 --out "$OUT/heldout" --force
"$PY" - "$OUT" "$DATA" <<'PYTHON'
import json, os, sys
out, data = sys.argv[1], sys.argv[2]
rows = json.load(open(f"{out}/heldout/cases.json"))
for row in rows:
    row["image"], row["label"] = (os.path.abspath(f"{out}/heldout/{row[k]}") for k in ("image", "label"))
real = [("mr/image.nii.gz", "mr/labels.nii.gz", 13, "mr-small-bowel"),
        ("mr/image.nii.gz", "mr/labels.nii.gz", 15, "mr-colon"),
        ("ct/image.nii.gz", "ct/labels.nii.gz", 19, "ct-duodenum"),
        ("pulmonary_ct/image.nii.gz", "pulmonary_ct/pulmonary_artery.nii.gz", 1, "ct-pulmonary-artery")]
rows += [{"image": f"{data}/{image}", "label": f"{data}/{label}", "label_value": value, "name": name}
         for image, label, value, name in real]
json.dump(rows, open(f"{out}/test_cases.json", "w"), indent=1)
PYTHON
/usr/bin/time -f "evaluate: %e s wall, %M KB peak" "$SPD" evaluate --data "$OUT/test_cases.json" \
  --method sam_tuning="$TRAIN/ablation_sam_tuning/adapter.safetensors" \
  --method local="$TRAIN/ablation_local/adapter.safetensors" \
  --method cpd="$TRAIN/ablation_cpd/adapter.safetensors" --method spd="$DEFAULT" \
  --prompts centerline noise --seeds 0 1 --robustness 2 4 6 8 10 --device cpu --out "$OUT" > "$OUT/evaluate.log" 2>&1
tail -1 "$OUT/evaluate.log"
"$PY" -m SPDSegmentLib.tools.results_page "$OUT" docs --notes docs/results_notes.md --time "$(tail -1 "$OUT/evaluate.log")" \
  --subset "Generated volumes only (in domain)=synthetic-" --subset "Real MR cases only (modality never trained)=mr-" \
  --subset "Real CT cases only (structures never trained)=ct-"
