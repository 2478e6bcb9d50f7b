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
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT/ileum"
PYTHONPATH=SPDSegment "$PY" - "$OUT/ileum" "$SHARED/gca" <<'PYTHON'
import json, os, sys
import numpy as np
from SPDSegmentLib.inference.io import write_volume
from SPDSegmentLib.training.anatomy import read_bowel_shape, render_case
out, gca = sys.argv[1:3]
rows = []
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
print(f"{len(rows)} ileum stretches")
PYTHON
EXTRA_CASES="$OUT/ileum/cases.json" bash "$(dirname "$0")/train_default_model.sh" "$OUT" "$SHARED"
