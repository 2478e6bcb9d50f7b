"""Shared fixtures: small real CT/MR crops kept in Testing/Data (see its README), so the real models run fast
on the CPU and the suite needs nothing beside the clone."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "Testing" / "Data"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def spdsegment_home(tmp_path_factory):
    """The model store (downloads, kept ONNX exports) of this test session: never the user's own."""
    home = tmp_path_factory.mktemp("spdsegment_home")
    previous = os.environ.get("SPDSEGMENT_HOME")
    os.environ["SPDSEGMENT_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("SPDSEGMENT_HOME", None)
    else:
        os.environ["SPDSEGMENT_HOME"] = previous


@pytest.fixture(scope="session")
def mr_crop():
    """MR abdomen, 4 axial slices through the colon (label 15), with its label file.

    Returns (image_path, label_path, label_value).
    """
    return DATA / "mr_colon_image.nii.gz", DATA / "mr_colon_labels.nii.gz", 15


@pytest.fixture(scope="session")
def ct_crop():
    """Contrast CT abdomen, 3 axial slices through the right kidney (label 2): (image_path, label_path, value)."""
    return DATA / "ct_kidney_image.nii.gz", DATA / "ct_kidney_labels.nii.gz", 2


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
