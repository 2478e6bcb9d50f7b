"""Reading volumes and labels (SimpleITK), writing results atomically, hashing files.

Every reader checks its input and raises :class:`InputError` with what to fix; every writer refuses
an existing path unless ``force`` and writes through a temporary file renamed into place, so a
failed or interrupted run never leaves a half-written file or touches an existing one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
import SimpleITK as sitk

from ..errors import InputError
from .volume import Volume

IMAGE_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")


def file_suffix(path: str | os.PathLike) -> str:
    name = Path(path).name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(path).suffix.lower()


def read_volume(path: str | os.PathLike, *, allow_nan: bool = False) -> Volume:
    """Read a 3D single-component image (NIfTI, NRRD, MetaImage) as a :class:`Volume`.

    Raises:
        InputError: missing or unreadable file, not 3D, several components (RGB), NaN/inf voxels.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Image file not found: {path}. Check the path.")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"Cannot read {path} as an image ({str(error).strip().splitlines()[-1]}). "
                         "Use a NIfTI (.nii/.nii.gz) or NRRD (.nrrd) file.") from error
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path} has {image.GetNumberOfComponentsPerPixel()} components per voxel (RGB or "
                         "vector image); SPDSegment needs a single-channel grey-level volume. Convert it to "
                         "greyscale first.")
    if image.GetDimension() != 3:
        what = "a 2D image" if image.GetDimension() == 2 else f"a {image.GetDimension()}D image"
        raise InputError(f"{path} is {what}; SPDSegment needs a 3D volume. "
                         + ("Extract one 3D frame (time point) first." if image.GetDimension() == 4 else
                            "Stack the slices into one 3D volume first."))
    array = sitk.GetArrayFromImage(image)
    if not allow_nan and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InputError(f"{path} has {bad} NaN or infinite voxels. Replace them (for example by the "
                         "minimum value) before segmenting.")
    return Volume(array, image.GetSpacing(), image.GetOrigin(), np.array(image.GetDirection()).reshape(3, 3))


def read_label_mask(path: str | os.PathLike, label_value: int, like: Volume | None = None) -> np.ndarray:
    """Read a label image and return ``label == label_value`` as a (K, J, I) bool array.

    Raises:
        InputError: the label value is absent, or the label grid differs from ``like``'s.
    """
    labels = read_volume(path)
    if like is not None:
        same_grid = (labels.array_kji.shape == like.array_kji.shape
                     and np.allclose(labels.spacing, like.spacing, rtol=1e-4, atol=1e-4)
                     and np.allclose(labels.origin, like.origin, atol=1e-3)
                     and np.allclose(labels.direction, like.direction, atol=1e-4))
        if not same_grid:
            raise InputError(f"Label file {path} is not on the image's voxel grid (shape, spacing, origin or "
                             "direction differ). Resample it onto the image first.")
    mask = labels.array_kji == label_value
    if not mask.any():
        present = np.unique(labels.array_kji)
        present = present[present != 0][:20]
        raise InputError(f"Label value {label_value} does not occur in {path}; values present: "
                         f"{present.astype(int).tolist()}. Pass one of those.")
    return mask


def check_output_path(path: str | os.PathLike, force: bool = False) -> Path:
    """Raise before any work if ``path`` exists (without ``force``) or cannot be written."""
    path = Path(path)
    if path.exists() and not force:
        raise InputError(f"Output {path} already exists. Choose another name or pass --force to replace it.")
    if path.exists() and path.is_dir():
        raise InputError(f"Output {path} is a folder; give a file name.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"Output folder {parent} does not exist. Create it first.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"Output folder {parent} is not writable. Choose another location.")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); rename it into place on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = check_output_path(path, force)
    suffix = file_suffix(path)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file owner-only; give it the permissions a normal new file would get
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sitk_image(array_kji: np.ndarray, reference: Volume) -> sitk.Image:
    image = sitk.GetImageFromArray(array_kji)
    image.SetSpacing(reference.spacing.tolist())
    image.SetOrigin(reference.origin.tolist())
    image.SetDirection(reference.direction.ravel().tolist())
    return image


def write_volume(path: str | os.PathLike, array_kji: np.ndarray, reference: Volume, force: bool = False) -> Path:
    """Write ``array_kji`` on ``reference``'s grid as NIfTI, NRRD or MetaImage (atomically)."""
    if array_kji.shape != reference.array_kji.shape:
        raise ValueError(f"Array {array_kji.shape} is not on the reference grid {reference.array_kji.shape}.")
    with atomic_output(path, force) as tmp:
        sitk.WriteImage(_sitk_image(array_kji, reference), str(tmp), useCompression=True)
    return Path(path)


def write_segmentation(path: str | os.PathLike, mask_kji: np.ndarray, reference: Volume,
                       segment_name: str = "SPD", color=(0.85, 0.45, 0.2), force: bool = False) -> Path:
    """Write a binary mask as ``.seg.nrrd`` (Slicer segmentation, via slicerio) or as a labelmap (0/1)."""
    mask_kji = np.asarray(mask_kji).astype(bool)
    if file_suffix(path) != ".seg.nrrd":
        return write_volume(path, mask_kji.astype(np.uint8), reference, force)
    import slicerio

    segmentation = slicerio.create_segmentation(reference.shape_ijk, reference.ijk_to_lps)
    slicerio.add_segment(segmentation, np.transpose(mask_kji, (2, 1, 0)),
                         {"id": segment_name, "name": segment_name, "color": list(color)})
    with atomic_output(path, force) as tmp:
        slicerio.write_segmentation(str(tmp), segmentation)
    return Path(path)


def sha256_of_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
