#!/usr/bin/env bash
# Regenerate docs/RESULTS.md and its plots in one command: every method on the same prompts, on held-out
# generated volumes and on real cases never used to train or tune the default, plus the robustness curve.
# Usage: [ONLY="frozen-boxes spd"] [ROBUSTNESS="2 10"] docs/make_results.sh [SHARED_DATA_DIR] [OUT_DIR]
#   spd is the embedded default model as shipped (prior auto); spd-learned forces its learned prior.
#   ONLY runs some of the methods; ROBUSTNESS sets the K of the robustness curve ("" for none). The whole study
#   (every method, K = 2 4 6 8 10) takes several hours on 2 CPU cores.
set -euo pipefail
source "$(dirname "$0")/study_paths.sh" "${1:-}" "${2:-}" runs/results
"$SPD" synthesize --seeds 7001 7002 7003 7004 --out "$OUT/heldout" --force
"$PY" - "$OUT" "$DATA" <<'PYTHON'
import json, os, sys
out, data = sys.argv[1], sys.argv[2]
rows = json.load(open(f"{out}/heldout/cases.json"))
for row in rows:
    row["image"], row["label"] = (os.path.abspath(f"{out}/heldout/{row[k]}") for k in ("image", "label"))
real = [("mr/image.nii.gz", "mr/labels.nii.gz", 13, "real-mr-small-bowel"),
        ("mr/image.nii.gz", "mr/labels.nii.gz", 15, "real-mr-colon"),
        ("ct/image.nii.gz", "ct/labels.nii.gz", 19, "real-ct-duodenum"),
        ("pulmonary_ct/image.nii.gz", "pulmonary_ct/pulmonary_artery.nii.gz", 1, "real-ct-pulmonary-artery"),
        ("aorta_ct/image.nii.gz", "aorta_ct/aorta.nii.gz", 1, "real-ct-aorta")]
rows += [{"image": f"{data}/{image}", "label": f"{data}/{label}", "label_value": value, "name": name}
         for image, label, value, name in real]
json.dump(rows, open(f"{out}/test_cases.json", "w"), indent=1)
PYTHON
ROBUSTNESS=${ROBUSTNESS-2 4 6 8 10}
# shellcheck disable=SC2086  # ONLY and ROBUSTNESS are lists
/usr/bin/time -f "evaluate: %e s wall, %M KB peak" "$SPD" evaluate --data "$OUT/test_cases.json" --method spd="$DEFAULT" \
  --prompts centerline noise --seeds 0 1 --robustness $ROBUSTNESS ${ONLY:+--only $ONLY} --device cpu --out "$OUT" \
  --force > "$OUT/evaluate.log" 2>&1
tail -1 "$OUT/evaluate.log"
"$PY" -m SPDSegmentLib.tools.results_page "$OUT" docs --notes docs/results_notes.md --time "$(tail -1 "$OUT/evaluate.log")" \
  --real-prefix real- --generated-prefix synthetic-
