"""Shared fixtures: real cases from ../shared/data, cropped small so the real models run fast on CPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SPD_SHARED_DATA", REPO.parent / "shared" / "data")) / "totalsegmentator"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"Real test data not found at {DATA}; set SPD_SHARED_DATA to the shared/data folder.")
    return DATA


@pytest.fixture(scope="session")
def mr_crop(data_dir, tmp_path_factory):
    """MR abdomen cropped to 4 axial slices through the colon (label 15), with its label file.

    Returns (image_path, label_path, label_value).
    """
    image = sitk.ReadImage(str(data_dir / "mr" / "image.nii.gz"))
    labels = sitk.ReadImage(str(data_dir / "mr" / "labels.nii.gz"))
    colon = sitk.GetArrayFromImage(labels) == 15
    best = int(np.argmax(colon.reshape(colon.shape[0], -1).sum(1)))
    k0 = int(np.clip(best - 1, 0, colon.shape[0] - 4))
    out = tmp_path_factory.mktemp("mr_crop")
    image_path, label_path = out / "image.nii.gz", out / "labels.nii.gz"
    sitk.WriteImage(image[:, :, k0:k0 + 4], str(image_path))
    sitk.WriteImage(labels[:, :, k0:k0 + 4], str(label_path))
    return image_path, label_path, 15


@pytest.fixture(scope="session")
def litemedsam():
    from SPDSegmentLib.inference.backbones import build_litemedsam

    return build_litemedsam()


def oblique_direction(seed: int = 0, flip: bool = True) -> np.ndarray:
    """A random proper or improper rotation (columns = IJK axis directions)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if flip:
        q[:, 0] = -q[:, 0]
    return q


@pytest.fixture
def slicer_scene():
    from SPDSegmentLib.tools.headless_scene import HeadlessSlicer

    return HeadlessSlicer()
