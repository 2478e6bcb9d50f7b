#!/usr/bin/env bash
# The development cases the continuity prior and the fitted boxes were tuned on (never the held-out ones of
# docs/make_results.sh): plain boxes against the continuity route on the frozen backbone, same prompts.
# Usage: docs/dev_results.sh [SHARED_DATA_DIR] [OUT_DIR]
set -euo pipefail
source "$(dirname "$0")/study_paths.sh" "${1:-}" "${2:-}" runs/dev
"$SPD" synthesize --seeds 2026 2027 2028 2029 2030 2031 2032 2033 2034 2035 --out "$OUT/generated" --force
"$PY" - "$OUT" "$DATA" <<'PYTHON'
import json, os, sys
out, data = sys.argv[1], sys.argv[2]
rows = json.load(open(f"{out}/generated/cases.json"))
for row in rows:
    row["image"], row["label"] = (os.path.abspath(f"{out}/generated/{row[k]}") for k in ("image", "label"))
ct = [(18, "small-bowel"), (20, "colon"), (52, "aorta"), (63, "inferior-vena-cava"), (65, "iliac-artery"),
      (2, "kidney"), (5, "liver")]
rows += [{"image": f"{data}/ct/image.nii.gz", "label": f"{data}/ct/labels.nii.gz", "label_value": value,
          "name": f"dev-ct-{name}"} for value, name in ct]
json.dump(rows, open(f"{out}/dev_cases.json", "w"), indent=1)
PYTHON
"$SPD" evaluate --data "$OUT/dev_cases.json" --method continuity=frozen --prompts centerline noise --seeds 0 1 \
  --device cpu --out "$OUT"
