"""Development cases on real human bowel shapes: each Gut Cell Atlas model of ``../shared/data/gca`` rendered as an
MR-enterography-like volume around its terminal ileum (:func:`SPDSegmentLib.training.anatomy.render_case`), written
with its label and a cases file that docs/hd95_parts.py and ``spdsegment evaluate`` read.

The shapes: Gut Cell Atlas 3D models (Comparative-Pathology/GCA-Models), CC BY 4.0; the volumes written here are
derived from them and carry that attribution (a ``README.txt`` beside them).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/gca_cases.py ../shared/data/gca OUT [SEED [midline]]
  midline: the centerline runs take the atlas's own midline, traced as a clinician places a curve in 3D
  (:func:`SPDSegmentLib.training.anatomy.traced_midline`), instead of the simulated clinician curve (one
  point a slice, drifting stretches) every other development case gets.
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference.io import write_volume
from SPDSegmentLib.inference.markup_files import write_markups
from SPDSegmentLib.training.anatomy import ATTRIBUTION, read_bowel_shape, render_case, traced_midline


def main(gca: str, out: str, seed: str = "0", centerline: str = "simulated") -> None:
    traced = centerline == "midline"
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = []
    for folder in sorted(p for p in Path(gca).iterdir() if p.is_dir()):
        shape = read_bowel_shape(folder)
        case = render_case(shape, int(seed))
        name = f"gca-{folder.name}"
        image, label = out_dir / f"{name}.nii.gz", out_dir / f"{name}_ti.nii.gz"
        write_volume(image, case.volume.array_kji, case.volume, force=True)
        write_volume(label, case.label_kji.astype(np.uint8), case.volume, force=True)
        row = {"name": name, "image": str(image.resolve()), "label": str(label.resolve()), "label_value": 1}
        if traced:
            curve = out_dir / f"{name}_midline.mrk.json"
            write_markups(curve, "Curve", traced_midline(shape.path_mm, 150.0, seed=int(seed)),
                          name="TI centerline (atlas midline)")
            row["centerline"] = str(curve.resolve())
        cases.append(row)
        coronal = [case.label_kji[:, j] for j in np.flatnonzero(case.label_kji.any(axis=(0, 2)))]
        regions = [ndimage.label(on_slice)[1] for on_slice in coronal]
        print(f"{name}: {case.volume.array_kji.shape} voxels (k, j, i), terminal ileum {int(case.label_kji.sum())} "
              f"voxels on {len(coronal)} coronal slices, {np.median(regions):g} regions a slice (median), at most "
              f"{max(regions)}")
    (out_dir / "cases.json").write_text(json.dumps(cases, indent=1) + "\n", encoding="utf-8")
    (out_dir / "README.txt").write_text(f"Rendered from {ATTRIBUTION}.\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
