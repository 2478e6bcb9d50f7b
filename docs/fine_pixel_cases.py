"""Development cases on 1.5 mm pixels, cut from the shared CT development case (never from a held-out case).

The shared CT case (3 mm) is resampled to 1.5 mm (the image linearly, the labels by nearest neighbour) and cropped
around the abdominal vessels, 30 pixels beyond the aorta, inferior vena cava and iliac artery labels in plane and
2 slices beyond them along the slices. Each structure becomes one case of the same crop. They show what changes
when the same anatomy covers four times as many pixels. The resampled image is smoother than a scan acquired at
1.5 mm, so they are not a faithful stand-in for one (docs/DEFAULT_MODEL.md, the edge-contrast rule).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/fine_pixel_cases.py SHARED_DATA OUT_DIR
  writes OUT_DIR/<structure>.nii.gz, OUT_DIR/<structure>_label.nii.gz and OUT_DIR/cases.json (for docs/hd95_parts.py).
"""

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SPACING_MM = 1.5
STRUCTURES = {"aorta": 52, "ivc": 63, "iliac": 65}  # TotalSegmentator `total` label values
MARGIN_PX = 30
MARGIN_SLICES = 2


def resampled(image: sitk.Image, interpolator: int, size: list[int]) -> sitk.Image:
    return sitk.Resample(image, size, sitk.Transform(), interpolator, image.GetOrigin(), (SPACING_MM,) * 3,
                         image.GetDirection(), 0, image.GetPixelID())


def main(shared_data: str, out_dir: str) -> None:
    source = Path(shared_data) / "totalsegmentator" / "ct"
    image = sitk.ReadImage(str(source / "image.nii.gz"), sitk.sitkFloat32)
    labels = sitk.ReadImage(str(source / "labels.nii.gz"))
    size = [int(round(n * s / SPACING_MM)) for n, s in zip(image.GetSize(), image.GetSpacing())]
    image = resampled(image, sitk.sitkLinear, size)
    labels = resampled(labels, sitk.sitkNearestNeighbor, size)
    z, y, x = np.nonzero(np.isin(sitk.GetArrayFromImage(labels), list(STRUCTURES.values())))
    low = [max(0, int(v.min()) - m) for v, m in ((x, MARGIN_PX), (y, MARGIN_PX), (z, MARGIN_SLICES))]
    high = [min(n, int(v.max()) + m + 1) for v, m, n in ((x, MARGIN_PX, size[0]), (y, MARGIN_PX, size[1]),
                                                           (z, MARGIN_SLICES, size[2]))]
    extent = [h - lo for lo, h in zip(low, high)]
    image = sitk.Cast(sitk.Round(sitk.RegionOfInterest(image, extent, low)), sitk.sitkInt16)
    labels = sitk.RegionOfInterest(labels, extent, low)
    label_values = sitk.GetArrayFromImage(labels)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(out / "ct_1.5mm.nii.gz"))
    cases = []
    for name, value in STRUCTURES.items():
        mask = sitk.GetImageFromArray((label_values == value).astype(np.uint8))
        mask.CopyInformation(labels)
        sitk.WriteImage(mask, str(out / f"{name}_label.nii.gz"))
        cases.append({"image": str((out / "ct_1.5mm.nii.gz").resolve()),
                      "label": str((out / f"{name}_label.nii.gz").resolve()), "label_value": 1,
                      "name": f"dev15-{name}"})
        print(f"dev15-{name}: {image.GetSize()} at {SPACING_MM} mm, {int((label_values == value).sum())} voxels")
    (out / "cases.json").write_text(json.dumps(cases, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
