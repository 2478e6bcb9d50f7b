"""Development cases on small fields and fine pixels, cut from the shared CT development case (never from a held-out
case).

- ``dev15-*``: the shared CT case (3 mm) resampled to 1.5 mm (the image linearly, the labels by nearest neighbour)
  and cropped around the abdominal vessels, 30 pixels beyond the aorta, inferior vena cava and iliac artery labels
  in plane and 2 slices beyond them along the slices: a 21 x 16 cm crop at 1.5 mm, the size and pixels of the
  held-out vessel crops (not how they segment: docs/DEFAULT_MODEL.md, the crop field and CT window trial).
- ``dev3crop-*``: the same crop at the case's own 3 mm (15 pixels beyond the labels, 1 slice beyond them): the small
  field without the fine pixels.
- ``dev15whole-*``: the whole slice at 1.5 mm, only the slices of the crop kept: the fine pixels without the small
  field.
- ``dev15-portal``, ``dev15-pancreas``: a second 1.5 mm crop, 30 pixels beyond the portal and splenic vein label and
  2 slices beyond it, with the pancreas beside the vein as a second case: a vessel that runs in the slice's plane
  among organs, as the held-out pulmonary artery's branches do (docs/DEFAULT_MODEL.md, "a vessel crop that runs in
  the slice's plane"). The portal vein is also a structure of docs/unseen_structures.sh: a rule chosen on this crop
  makes it a seen structure there.

Each structure becomes one case of its image. The resampled images are smoother than a scan acquired at 1.5 mm,
so they are not a faithful stand-in for one (docs/DEFAULT_MODEL.md, the edge-contrast rule).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/fine_pixel_cases.py SHARED_DATA OUT_DIR
  writes OUT_DIR/<image>.nii.gz, OUT_DIR/<case>_label.nii.gz and OUT_DIR/cases.json (for docs/hd95_parts.py).
"""

import json
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SPACING_MM = 1.5
STRUCTURES = {"aorta": 52, "ivc": 63, "iliac": 65}  # TotalSegmentator `total` label values
PORTAL_CROP = {"portal": 64, "pancreas": 7}  # cut around the portal vein; the pancreas beside it is a second case
MARGIN_PX = 30
MARGIN_SLICES = 2


def resampled(image: sitk.Image, interpolator: int, size: list[int]) -> sitk.Image:
    return sitk.Resample(image, size, sitk.Transform(), interpolator, image.GetOrigin(), (SPACING_MM,) * 3,
                         image.GetDirection(), 0, image.GetPixelID())


def vessel_box(labels: np.ndarray, margin_px: int, margin_slices: int,
               values: tuple[int, ...] = tuple(STRUCTURES.values())) -> tuple[list[int], list[int]]:
    """(low, high) x, y, z index bounds around the label ``values`` of a (z, y, x) label array, with margins."""
    z, y, x = np.nonzero(np.isin(labels, list(values)))
    size = labels.shape[::-1]
    low = [max(0, int(v.min()) - m) for v, m in ((x, margin_px), (y, margin_px), (z, margin_slices))]
    high = [min(n, int(v.max()) + m + 1) for v, m, n in ((x, margin_px, size[0]), (y, margin_px, size[1]),
                                                           (z, margin_slices, size[2]))]
    return low, high


def write_cases(image: sitk.Image, labels: sitk.Image, low: list[int], high: list[int], out: Path, image_name: str,
                prefix: str, structures: dict[str, int], label_prefix: str) -> list[dict]:
    """Cut ``image`` and ``labels`` to [low, high) and write the image and one label file per structure
    (``<label_prefix><structure>_label.nii.gz``); returns the cases, named ``<prefix>-<structure>``."""
    extent = [h - lo for lo, h in zip(low, high)]
    image = sitk.Cast(sitk.Round(sitk.RegionOfInterest(image, extent, low)), sitk.sitkInt16)
    labels = sitk.RegionOfInterest(labels, extent, low)
    label_values = sitk.GetArrayFromImage(labels)
    sitk.WriteImage(image, str(out / f"{image_name}.nii.gz"))
    cases = []
    for name, value in structures.items():
        label_name = f"{label_prefix}{name}"
        mask = sitk.GetImageFromArray((label_values == value).astype(np.uint8))
        mask.CopyInformation(labels)
        sitk.WriteImage(mask, str(out / f"{label_name}_label.nii.gz"))
        cases.append({"image": str((out / f"{image_name}.nii.gz").resolve()),
                      "label": str((out / f"{label_name}_label.nii.gz").resolve()), "label_value": 1,
                      "name": f"{prefix}-{name}"})
        print(f"{prefix}-{name}: {image.GetSize()} at {image.GetSpacing()[0]} mm, "
              f"{int((label_values == value).sum())} voxels")
    return cases


def main(shared_data: str, out_dir: str) -> None:
    source = Path(shared_data) / "totalsegmentator" / "ct"
    image = sitk.ReadImage(str(source / "image.nii.gz"), sitk.sitkFloat32)
    labels = sitk.ReadImage(str(source / "labels.nii.gz"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    low, high = vessel_box(sitk.GetArrayFromImage(labels), MARGIN_PX // 2, MARGIN_SLICES // 2)
    cases = write_cases(image, labels, low, high, out, "ct_3mm_crop", "dev3crop", {"aorta": 52, "ivc": 63},
                        "dev3crop_")
    size = [int(round(n * s / SPACING_MM)) for n, s in zip(image.GetSize(), image.GetSpacing())]
    image = resampled(image, sitk.sitkLinear, size)
    labels = resampled(labels, sitk.sitkNearestNeighbor, size)
    label_values = sitk.GetArrayFromImage(labels)
    low, high = vessel_box(label_values, MARGIN_PX, MARGIN_SLICES)
    cases = write_cases(image, labels, low, high, out, "ct_1.5mm", "dev15", STRUCTURES, "") + cases
    portal_low, portal_high = vessel_box(label_values, MARGIN_PX, MARGIN_SLICES, (PORTAL_CROP["portal"],))
    cases += write_cases(image, labels, portal_low, portal_high, out, "ct_1.5mm_portal", "dev15", PORTAL_CROP, "p_")
    whole_low, whole_high = [0, 0, low[2]], [size[0], size[1], high[2]]
    cases += write_cases(image, labels, whole_low, whole_high, out, "ct_1.5mm_whole", "dev15whole", {"aorta": 52},
                         "dev15whole_")
    (out / "cases.json").write_text(json.dumps(cases, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:])
