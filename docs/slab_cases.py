"""Development cases in slabs of 20 slices: the shared CT development case cut into slabs as thin as the shared MR
series (20 slices of 3 mm), so that a structure with several cross-sections on a slice (the colon, the small bowel)
is clicked on a few slices only, as on that series. The slabs come from the CT development case alone; the MR
series is held out and is not read.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/slab_cases.py SHARED_DATA OUT_DIR [SLICES]
  SLICES: slices per slab (default 20). Writes OUT_DIR/slab_K.nii.gz and OUT_DIR/slab_K_labels.nii.gz for each
  slab starting at slice K, and OUT_DIR/cases.json (for docs/hd95_parts.py): dev-ct-colon-slab-K and
  dev-ct-small-bowel-slab-K for the slabs holding that structure on every slice.
"""

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

STRUCTURES = {"colon": 20, "small-bowel": 18}  # TotalSegmentator `total` label values, as runs/dev/dev_cases.json
FIRST_SLICES = (10, 30, 50, 70, 90)


def main(shared_data: str, out_dir: str, slices: int = 20) -> None:
    source = Path(shared_data) / "totalsegmentator" / "ct"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = sitk.ReadImage(str(source / "image.nii.gz"))
    labels = sitk.ReadImage(str(source / "labels.nii.gz"))
    cases = []
    for first in FIRST_SLICES:
        slab_labels = labels[:, :, first:first + slices]
        sitk.WriteImage(image[:, :, first:first + slices], str(out / f"slab_{first}.nii.gz"))
        sitk.WriteImage(slab_labels, str(out / f"slab_{first}_labels.nii.gz"))
        array = sitk.GetArrayViewFromImage(slab_labels)
        for name, value in STRUCTURES.items():
            if (array == value).any(axis=(1, 2)).all():
                cases.append({"image": f"slab_{first}.nii.gz", "label": f"slab_{first}_labels.nii.gz",
                              "label_value": value, "name": f"dev-ct-{name}-slab-{first}"})
                print(f"{cases[-1]['name']}: {int((array == value).sum())} voxels")
    (out / "cases.json").write_text(json.dumps(cases, indent=1), encoding="utf-8")
    print(f"{len(cases)} cases in {out / 'cases.json'}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
