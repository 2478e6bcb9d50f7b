#!/usr/bin/env bash
# Regenerate docs/RESULTS.md's table: held-out generated volumes (seeds 7001-7003) and the MR case.
# Usage: docs/evaluate_default_model.sh [OUT_DIR] [SHARED_DATA_DIR]
set -euo pipefail
OUT=${1:-runs/eval_default}
DATA=${2:-../shared/data}/totalsegmentator
PY=${PY:-.venv/bin/python}
SPD=${SPD:-.venv/bin/spdsegment}
"$SPD" synthesize --seeds 7001 7002 7003 --out "$OUT/heldout" --force
"$PY" - "$OUT/heldout/cases.json" "$OUT/test_cases.json" "$(cd "$DATA" && pwd)" <<'PYTHON'
import json, os, sys
heldout, listing, data = sys.argv[1], sys.argv[2], sys.argv[3]
rows = json.load(open(heldout))
for row in rows:
    row["image"], row["label"] = (os.path.abspath(os.path.join(os.path.dirname(heldout), row[k])) for k in ("image", "label"))
rows.append({"image": f"{data}/mr/image.nii.gz", "label": f"{data}/mr/labels.nii.gz", "label_value": 13, "name": "mr-small-bowel"})
json.dump(rows, open(listing, "w"), indent=1)
PYTHON
"$SPD" evaluate --data "$OUT/test_cases.json" \
  --method spd=SPDSegment/SPDSegmentLib/models/spd_litemedsam_small_bowel.safetensors \
  --prompts centerline noise --seeds 0 --device cpu --out "$OUT"
