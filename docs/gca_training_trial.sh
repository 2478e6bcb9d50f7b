#!/usr/bin/env bash
# Trial (not the shipped default): the embedded default's training (docs/train_default_model.sh, same data, steps
# and seed) with six more cases of real calibre: the small bowel of Gut Cell Atlas models 00020 and 00090 from 200,
# 350 and 500 mm above the ileocaecal valve, 150 mm each, rendered as the development cases of docs/gca_cases.py are
# (their terminal ileum, 0-150 mm, is never a training target). Shapes: Gut Cell Atlas 3D models
# (Comparative-Pathology/GCA-Models), CC BY 4.0.
# Usage: docs/gca_training_trial.sh [OUT_DIR] [SHARED_DATA_DIR]
set -euo pipefail
OUT=${1:-runs/gca_training_trial}
SHARED=${2:-../shared/data}
DATA=$(cd "$SHARED/totalsegmentator" && pwd)
PY=${PY:-.venv/bin/python}
SPD=${SPD:-.venv/bin/spdsegment}
"$SPD" synthesize --seeds 100 101 102 103 104 105 --out "$OUT/data" --force
PYTHONPATH=SPDSegment "$PY" - "$OUT/data" "$DATA" "$SHARED/gca" <<'PYTHON'
import json, os, sys
import numpy as np
from SPDSegmentLib.inference.io import write_volume
from SPDSegmentLib.training.anatomy import read_bowel_shape, render_case
out, data, gca = sys.argv[1:4]
rows = json.load(open(f"{out}/cases.json"))
for row in rows:
    row["image"], row["label"] = (os.path.abspath(f"{out}/{row[k]}") for k in ("image", "label"))
rows += [{"image": f"{data}/ct/image.nii.gz", "label": f"{data}/ct/labels.nii.gz", "label_value": 18, "name": "ct-small-bowel"},
         {"image": f"{data}/ct/image.nii.gz", "label": f"{data}/ct/labels.nii.gz", "label_value": 20, "name": "ct-colon"}]
for model in ("00020", "00090"):
    shape = read_bowel_shape(f"{gca}/{model}")
    for index, start in enumerate((200.0, 350.0, 500.0)):
        case = render_case(shape, 100 + index, start_mm=start)
        name = f"gca-{model}-ileum-{int(start)}"
        image, label = os.path.abspath(f"{out}/{name}.nii.gz"), os.path.abspath(f"{out}/{name}_label.nii.gz")
        write_volume(image, case.volume.array_kji, case.volume, force=True)
        write_volume(label, case.label_kji.astype(np.uint8), case.volume, force=True)
        rows.append({"image": image, "label": label, "label_value": 1, "name": name})
json.dump(rows, open(f"{out}/cases.json", "w"), indent=1)
print(f"{len(rows)} training cases")
PYTHON
"$SPD" train --data "$OUT/data/cases.json" --backbone litemedsam --out "$OUT/adapter" --variant spd \
  --lora-rank 0 --cache-embeddings --stage1-steps 600 --stage2-steps 300 --batch-slices 4 --window 3 \
  --lr 1e-3 --decoder-lr 1e-4 --seed 0 --device cpu
