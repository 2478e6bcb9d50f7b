"""Writes the cases file of ten structures of the shared abdominal MR for the clicks' scripts (docs/sparse_clicks.py,
docs/few_clicks.py, docs/click_runs.py): spleen, both kidneys, gallbladder, liver, stomach, pancreas, aorta, inferior
vena cava, portal and splenic vein (the `total_mr` label map, `totalsegmentator/class_map.json`).

The scan is the held-out study's MR (docs/RESULTS.md holds out its small bowel and colon); these are its other
structures, and only clicks run on them: no run of the held-out study takes the clicks' path (a clinician's curve,
or random points that compete on every slice), so nothing measured here touches a held-out figure.

Usage: .venv/bin/python docs/mr_click_cases.py SHARED_DATA_DIR OUT.json
"""

import json
import sys
from pathlib import Path

MR_STRUCTURES = ((1, "spleen"), (2, "kidney-right"), (3, "kidney-left"), (4, "gallbladder"), (5, "liver"),
                 (6, "stomach"), (7, "pancreas"), (23, "aorta"), (24, "inferior-vena-cava"),
                 (25, "portal-splenic-vein"))


def main(data_dir: str, out: str) -> None:
    mr = Path(data_dir).resolve() / "totalsegmentator" / "mr"
    rows = [{"image": str(mr / "image.nii.gz"), "label": str(mr / "labels.nii.gz"), "label_value": value,
             "name": f"mr-{name}"} for value, name in MR_STRUCTURES]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
