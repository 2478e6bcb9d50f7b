"""Cut the small real crops the test suite reads (Testing/Data) from the shared TotalSegmentator cases.

    .venv/bin/python docs/make_test_data.py ../shared/data/totalsegmentator Testing/Data

- MR: the 4 axial slices around the slice with the most colon (label 15), image and labels;
- CT: the 3 axial slices around the slice with the most right kidney (label 2), image and labels.
Geometry (spacing, origin, direction) is kept, so the crops sit where they sat in the full scans.
"""

import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def crop(source: Path, out: Path, name: str, label_value: int, count: int) -> None:
    image = sitk.ReadImage(str(source / "image.nii.gz"))
    labels = sitk.ReadImage(str(source / "labels.nii.gz"))
    target = sitk.GetArrayFromImage(labels) == label_value
    best = int(np.argmax(target.reshape(target.shape[0], -1).sum(1)))
    k0 = int(np.clip(best - (count - 1) // 2, 0, target.shape[0] - count))
    sitk.WriteImage(image[:, :, k0:k0 + count], str(out / f"{name}_image.nii.gz"), useCompression=True)
    sitk.WriteImage(labels[:, :, k0:k0 + count], str(out / f"{name}_labels.nii.gz"), useCompression=True)
    print(f"{name}: slices {k0}-{k0 + count - 1} of {target.shape[0]}")


if __name__ == "__main__":
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    crop(source / "mr", out, "mr_colon", 15, 4)
    crop(source / "ct", out, "ct_kidney", 2, 3)
