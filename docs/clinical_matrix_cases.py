"""Development cases on a clinical matrix: the shared CT development case (3 mm voxels, 122 x 101 pixels a slice)
resampled in plane to 0.75 mm (488 x 404 pixels, the matrix of a clinical CT or MR enterography series), its
3 mm slices kept: the image linearly, the labels by nearest neighbour, over the same field. Never a held-out case.

A resampled image is smoother than one acquired on that matrix, so these cases test what the pixel size does to
rules that count pixels, not how a sharper scan segments (docs/DEFAULT_MODEL.md, "rules that count pixels").

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/clinical_matrix_cases.py SHARED_DATA OUT_DIR [FACTOR]
  FACTOR: pixels per original pixel along each in-plane axis (default 4: 0.75 mm).
  writes OUT_DIR/ct_fine.nii.gz, OUT_DIR/ct_fine_labels.nii.gz and OUT_DIR/cases.json (for docs/hd95_parts.py):
  dev-ct-small-bowel-fine and dev-ct-colon-fine.
"""

import json
import sys
from pathlib import Path

import SimpleITK as sitk

STRUCTURES = {"small-bowel": 18, "colon": 20}  # TotalSegmentator `total` label values, as runs/dev/dev_cases.json


def on_finer_pixels(volume: sitk.Image, factor: int, interpolator: int) -> sitk.Image:
    """``volume`` on ``factor`` times as many pixels along I and J over the same field; K as it was."""
    size = [volume.GetSize()[0] * factor, volume.GetSize()[1] * factor, volume.GetSize()[2]]
    spacing = [volume.GetSpacing()[0] / factor, volume.GetSpacing()[1] / factor, volume.GetSpacing()[2]]
    first_centre = (factor - 1) / (2 * factor)  # the first new pixel's centre, in the old pixel's index
    origin = volume.TransformContinuousIndexToPhysicalPoint([-first_centre, -first_centre, 0.0])
    return sitk.Resample(volume, size, sitk.Transform(), interpolator, origin, spacing, volume.GetDirection(), 0,
                         volume.GetPixelID())


def main(shared_data: str, out_dir: str, factor: int = 4) -> None:
    source = Path(shared_data) / "totalsegmentator" / "ct"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = on_finer_pixels(sitk.ReadImage(str(source / "image.nii.gz")), factor, sitk.sitkLinear)
    labels = on_finer_pixels(sitk.ReadImage(str(source / "labels.nii.gz")), factor, sitk.sitkNearestNeighbor)
    sitk.WriteImage(image, str(out / "ct_fine.nii.gz"))
    sitk.WriteImage(labels, str(out / "ct_fine_labels.nii.gz"))
    cases = [{"image": "ct_fine.nii.gz", "label": "ct_fine_labels.nii.gz", "label_value": value,
              "name": f"dev-ct-{name}-fine"} for name, value in STRUCTURES.items()]
    (out / "cases.json").write_text(json.dumps(cases, indent=1), encoding="utf-8")
    print(f"{image.GetSize()} pixels of {image.GetSpacing()} mm; cases in {out / 'cases.json'}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
