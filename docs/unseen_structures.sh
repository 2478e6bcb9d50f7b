#!/usr/bin/env bash
# Structures no setting was tuned on: seven more labels of the shared CT case (spleen, left kidney, gallbladder,
# stomach, urinary bladder, portal and splenic vein, left iliac vein), plain boxes against the default on the same
# prompts (clinician-like centerline; 1 true + 2-5 random points per slice; seeds 0 and 1). The CT image itself is a
# development case (docs/dev_results.sh), so these are new structures on a known scan, not new scans.
# Usage: docs/unseen_structures.sh [SHARED_DATA_DIR] [OUT_DIR]
set -euo pipefail
source "$(dirname "$0")/study_paths.sh" "${1:-}" "${2:-}" runs/unseen
"$PY" - "$OUT" "$DATA" <<'PYTHON'
import json, sys
out, data = sys.argv[1], sys.argv[2]
ct = [(1, "spleen"), (3, "kidney-left"), (4, "gallbladder"), (6, "stomach"), (21, "urinary-bladder"),
      (64, "portal-splenic-vein"), (67, "iliac-vein-left")]
rows = [{"image": f"{data}/ct/image.nii.gz", "label": f"{data}/ct/labels.nii.gz", "label_value": value,
         "name": f"unseen-ct-{name}"} for value, name in ct]
json.dump(rows, open(f"{out}/cases.json", "w"), indent=1)
PYTHON
"$SPD" evaluate --data "$OUT/cases.json" --method spd="$DEFAULT" --prompts centerline noise --seeds 0 1 \
  --only frozen-boxes spd --device cpu --out "$OUT" --force > "$OUT/evaluate.log" 2>&1
"$PY" - "$OUT/evaluation.json" <<'PYTHON'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
dsc = {(row["case"], row["method"], row["protocol"], row["seed"]): row["dsc"] for row in rows}
print("| structure | frozen + boxes, mean DSC (4 runs) | default | runs where the default is > 2 points below |")
print("|---|---|---|---|")
for case in dict.fromkeys(row["case"] for row in rows):
    runs = sorted({key[2:] for key in dsc if key[0] == case})
    boxes = [dsc[(case, "frozen-boxes", *run)] for run in runs]
    spd = [dsc[(case, "spd", *run)] for run in runs]
    worse = sum(s < b - 0.02 for b, s in zip(boxes, spd))
    print(f"| {case} | {sum(boxes) / len(boxes):.3f} | {sum(spd) / len(spd):.3f} | {worse} |")
means = {m: [value for key, value in dsc.items() if key[1] == m] for m in ("frozen-boxes", "spd")}
print(f"| all {len(means['spd'])} runs | {sum(means['frozen-boxes']) / len(means['frozen-boxes']):.3f} "
      f"| {sum(means['spd']) / len(means['spd']):.3f} | |")
PYTHON
