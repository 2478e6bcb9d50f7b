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


def _read_dicom_series(path: Path) -> sitk.Image:
    """The one DICOM series in folder ``path`` (or the series of DICOM file ``path``)."""
    folder = path if path.is_dir() else path.parent
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    if path.is_file():
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        series = [reader.GetMetaData("0020|000e").strip()] if reader.HasMetaDataKey("0020|000e") else series
    if not series:
        raise InputError(f"{path} is a folder without a DICOM series or an image file; give an image file "
                         "(NIfTI, NRRD) or a folder holding one DICOM series.")
    if len(series) > 1:
        raise InputError(f"{folder} holds {len(series)} DICOM series ({', '.join(s[-12:] for s in series[:4])}…); "
                         "put the series to segment in a folder of its own and give that folder.")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def _is_dicom(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(132)[128:132] == b"DICM"


def read_volume(path: str | os.PathLike, *, allow_nan: bool = False) -> Volume:
    """Read a 3D single-component image (NIfTI, NRRD, MetaImage, or a DICOM series: its folder or one of its
    files) as a :class:`Volume`, after the checks of :mod:`.image_checks`.

    Raises:
        InputError: missing, unreadable, truncated or unsafe file; not 3D; not one real scalar a voxel; bad
            geometry; NaN/inf voxels.
    """
    from .image_checks import check_file, check_image

    path = Path(path)
    if not path.exists():
        raise InputError(f"Image file not found: {path}. Check the path.")
    try:
        if path.is_dir() or (path.is_file() and _is_dicom(path)):
            image = _read_dicom_series(path)
        elif not path.is_file():
            raise InputError(f"{path} is not a regular file (a pipe, socket or device); give an image file.")
        else:
            check_file(path)
            image = sitk.ReadImage(str(path))
    except RuntimeError as error:
        raise InputError(f"Cannot read {path} as an image ({str(error).strip().splitlines()[-1][:200]}). "
                         "Use a NIfTI (.nii/.nii.gz), NRRD (.nrrd) or DICOM series.") from error
    check_image(image, path)
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
    """Raise before any work if ``path`` cannot be written as a new regular file (or replaced with ``force``).

    One policy for every file any command writes: a symbolic link (even a dangling one) or anything but a
    regular file is never written through or replaced; an existing file only with ``force``.
    """
    path = Path(path)
    if path.is_symlink():
        raise InputError(f"Output {path} is a symbolic link; SPDSegment never writes through links. Give the real "
                         "path, or remove the link.")
    if path.exists() and not path.is_file():
        what = "a folder" if path.is_dir() else "not a regular file (a device, pipe or socket)"
        raise InputError(f"Output {path} is {what}; give the name of a file to write.")
    if path.exists() and not force:
        raise InputError(f"Output {path} already exists. Choose another name or pass --force to replace it.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"Output folder {parent} does not exist. Create it first.")
    if not os.access(parent, os.W_OK):
        raise InputError(f"Output folder {parent} is not writable. Choose another location.")
    return path


def _commit(tmp: Path, path: Path, force: bool) -> None:
    """Move the finished ``tmp`` onto ``path``: replacing it only with ``force``, else creating it exclusively
    (a file or link that appeared meanwhile is never overwritten)."""
    umask = os.umask(0)  # mkstemp creates files owner-only; give the permissions a normal new file gets
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    check_output_path(path, force)
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(f"Output {path} appeared while SPDSegment was writing it; nothing was replaced. Run "
                         "again with another name.") from None
    except OSError:  # a file system without hard links: rename, after the check above
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); move it into place on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    with output_set(force) as outputs:
        yield outputs.add(path)


class OutputSet:
    """The files one run writes, as a set: each is written to a temporary file beside its destination, and
    only when every one of them is complete are they all moved into place. If any write fails, none is."""

    def __init__(self, force: bool):
        self.force = force
        self.pending: list[tuple[Path, Path]] = []

    def add(self, path: str | os.PathLike) -> Path:
        path = check_output_path(path, self.force)
        if any(path.resolve() == other.resolve() for _, other in self.pending):
            raise InputError(f"{path} is given twice as an output; every output needs its own file.")
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{file_suffix(path)}",
                                            dir=path.parent if str(path.parent) else ".")
        os.close(handle)
        self.pending.append((Path(tmp_name), path))
        return Path(tmp_name)

    def commit(self) -> None:
        done: list[Path] = []
        try:
            for tmp, path in self.pending:
                _commit(tmp, path, self.force)
                done.append(path)
        except BaseException:
            if not self.force:  # files this run created are taken back; replaced ones cannot be
                for path in done:
                    path.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def output_set(force: bool = False) -> Iterator[OutputSet]:
    """``with output_set(force) as outputs: write to outputs.add(path) ...``; all move into place at the end."""
    outputs = OutputSet(force)
    try:
        yield outputs
        outputs.commit()
    finally:
        outputs.discard()


def _sitk_image(array_kji: np.ndarray, reference: Volume) -> sitk.Image:
    image = sitk.GetImageFromArray(array_kji)
    image.SetSpacing(reference.spacing.tolist())
    image.SetOrigin(reference.origin.tolist())
    image.SetDirection(reference.direction.ravel().tolist())
    return image


@contextlib.contextmanager
def destination(path: str | os.PathLike, force: bool = False, outputs: OutputSet | None = None) -> Iterator[Path]:
    """Where to write ``path``: a member of ``outputs`` (moved into place with the rest of the set), or a file
    of its own moved into place when the block ends."""
    if outputs is not None:
        yield outputs.add(path)
        return
    with atomic_output(path, force) as tmp:
        yield tmp


def write_volume(path: str | os.PathLike, array_kji: np.ndarray, reference: Volume, force: bool = False,
                 outputs: OutputSet | None = None) -> Path:
    """Write ``array_kji`` on ``reference``'s grid as NIfTI, NRRD or MetaImage (atomically, or into ``outputs``)."""
    if array_kji.shape != reference.array_kji.shape:
        raise ValueError(f"Array {array_kji.shape} is not on the reference grid {reference.array_kji.shape}.")
    with destination(path, force, outputs) as tmp:
        sitk.WriteImage(_sitk_image(array_kji, reference), str(tmp), useCompression=True)
    return Path(path)


MAX_SEGMENT_NAME = 128


def check_segment_name(name: str, nrrd_header: bool = False) -> str:
    """The name stripped, or :class:`InputError` if it could corrupt a file or the scene.

    Args:
        nrrd_header: the name goes into a .seg.nrrd header, which holds ASCII text only.
    """
    name = str(name).strip()
    if not name:
        raise InputError("Give the output segment a name.")
    if len(name) > MAX_SEGMENT_NAME or not name.isprintable():
        raise InputError(f"Segment name {name[:40]!r}{'…' if len(name) > 40 else ''} is not usable: give a name of "
                         f"at most {MAX_SEGMENT_NAME} printable characters, on one line.")
    if nrrd_header and not name.isascii():
        raise InputError(f"Segment name {name[:40]!r} has characters a .seg.nrrd header cannot hold (it is ASCII "
                         "text); use ASCII letters, or write a .nii.gz labelmap instead.")
    return name


def write_segmentation(path: str | os.PathLike, mask_kji: np.ndarray, reference: Volume,
                       segment_name: str = "SPD", color=(0.85, 0.45, 0.2), force: bool = False,
                       outputs: OutputSet | None = None) -> Path:
    """Write a binary mask as ``.seg.nrrd`` (Slicer segmentation, via slicerio) or as a labelmap (0/1)."""
    mask_kji = np.asarray(mask_kji).astype(bool)
    segment_name = check_segment_name(segment_name, nrrd_header=file_suffix(path) == ".seg.nrrd")
    if file_suffix(path) != ".seg.nrrd":
        return write_volume(path, mask_kji.astype(np.uint8), reference, force, outputs)
    import slicerio

    segmentation = slicerio.create_segmentation(reference.shape_ijk, reference.ijk_to_lps)
    slicerio.add_segment(segmentation, np.transpose(mask_kji, (2, 1, 0)),
                         {"id": segment_name, "name": segment_name, "color": list(color)})
    with destination(path, force, outputs) as tmp:
        slicerio.write_segmentation(str(tmp), segmentation)
    return Path(path)


def json_text(value, **kwargs) -> str:
    """JSON of ``value`` with NaN and infinities as null (``json.dumps`` would write NaN, which is not JSON)."""
    import json
    import math

    def clean(item):
        if isinstance(item, float) and not math.isfinite(item):
            return None
        if isinstance(item, dict):
            return {key: clean(v) for key, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        if isinstance(item, np.generic):
            return clean(item.item())
        return item

    return json.dumps(clean(value), allow_nan=False, **kwargs)


def sha256_of_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
