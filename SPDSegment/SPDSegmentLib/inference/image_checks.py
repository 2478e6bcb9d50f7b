"""One validator for every image SPDSegment reads: the file (before ITK parses it) and the geometry and voxels
(after). Each refusal is an :class:`InputError` naming the file and what to do.

Checked before reading:
- a detached-data header (``.nhdr``, ``.mhd``) may only point to data files in its own folder;
- a NIfTI file (``.nii``, ``.nii.gz``) must hold every byte its header announces (ITK reads a truncated file
  with the missing part as zeros), and its voxel sizes must be positive (ITK turns 0 into 1 mm);
- a NRRD header must not give a zero spacing or a zero direction vector.

Checked after reading: 3 dimensions, one real scalar component, positive finite spacing, a finite origin and
an orthonormal direction matrix.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import InputError

NIFTI_BYTES_PER_VOXEL = {2: 1, 4: 2, 8: 4, 16: 4, 32: 8, 64: 8, 128: 3, 256: 1, 512: 2, 768: 4, 1024: 8,
                         1280: 8, 1536: 16, 1792: 16, 2048: 32, 2304: 4}
COMPLEX_PIXEL_IDS = {getattr(sitk, name) for name in ("sitkComplexFloat32", "sitkComplexFloat64") if hasattr(sitk, name)}
HEADER_LIMIT = 1 << 20  # a text header larger than this is not an image header


def _nifti_header(path: Path) -> bytes:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            return handle.read(352)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path} is not a readable NIfTI file ({error}); copy or export it again.") from None


def check_nifti(path: Path) -> None:
    """Every announced byte is present, and the voxel sizes are positive."""
    header = _nifti_header(path)
    if len(header) < 348:
        raise InputError(f"{path} is cut short (no complete NIfTI header); copy or export it again.")
    for order in ("<", ">"):
        if struct.unpack(order + "i", header[:4])[0] == 348:
            break
    else:
        return  # NIfTI-2 or not NIfTI at all: ITK decides
    dims = struct.unpack(order + "8h", header[40:56])
    datatype = struct.unpack(order + "h", header[70:72])[0]
    pixdim = struct.unpack(order + "8f", header[76:108])
    offset = int(struct.unpack(order + "f", header[108:112])[0]) or 352
    rank = max(1, min(7, dims[0]))
    if any(not np.isfinite(s) or s <= 0 for s in pixdim[1:min(rank, 3) + 1]):
        raise InputError(f"{path} declares a voxel size of {list(pixdim[1:min(rank, 3) + 1])} mm; every voxel size "
                         "must be positive. Fix the header (pixdim) or export the image again.")
    expected = offset + int(np.prod([max(1, d) for d in dims[1:rank + 1]], dtype=np.int64)) \
        * NIFTI_BYTES_PER_VOXEL.get(datatype, 0)
    if path.name.lower().endswith(".gz"):
        size = 0
        try:
            with gzip.open(path, "rb") as handle:
                while block := handle.read(1 << 22):
                    size += len(block)
        except (OSError, EOFError, zlib.error):
            raise InputError(f"{path} is a truncated or damaged gzip file; copy or export it again.") from None
    else:
        size = path.stat().st_size
    if size < expected:
        raise InputError(f"{path} is cut short: its header announces {expected} bytes, it holds {size}. Copy or "
                         "export it again.")


def _header_lines(path: Path) -> list[str]:
    if path.stat().st_size > HEADER_LIMIT and path.suffix.lower() in (".nhdr", ".mhd"):
        raise InputError(f"{path} is too large to be an image header; give the image file itself.")
    with open(path, "rb") as handle:
        head = handle.read(HEADER_LIMIT)
    text = head.split(b"\n\n", 1)[0] if path.suffix.lower() in (".nrrd", ".nhdr") else head
    return text.decode("latin-1").splitlines()


def check_detached_data(path: Path) -> None:
    """A .nhdr/.mhd header may only name data files inside its own folder."""
    folder = path.parent.resolve()
    lines = _header_lines(path)
    names: list[str] = []
    for number, line in enumerate(lines):
        match = re.match(r"\s*(data file|ElementDataFile)\s*[:=]\s*(.+?)\s*$", line, re.I)
        if not match:
            continue
        value = match.group(2)
        if value.upper() == "LOCAL":
            continue
        if value.upper().startswith("LIST"):  # the file names follow, one a line
            names += [item.strip() for item in lines[number + 1:] if item.strip()]
        else:
            names.append(Path(value.split()[0]).name if "%" in value else value.split()[0])
    for name in names:
        target = (folder / name).resolve()
        if Path(name).is_absolute() or folder not in target.parents:
            raise InputError(f"{path} points its voxel data to {name}, outside the header's folder; SPDSegment only "
                             "reads data files beside their header. Move the data file next to it.")


def check_nrrd_header(path: Path) -> None:
    for line in _header_lines(path):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "spacings":
            numbers = [float(v) for v in value.split() if v.lower() != "nan"]
            if any(not np.isfinite(v) or v <= 0 for v in numbers):
                raise InputError(f"{path} declares spacings {value.strip()}; every spacing must be positive. Fix the "
                                 "header or export the image again.")
        elif key == "space directions":
            for vector in re.findall(r"\(([^)]*)\)", value):
                components = [float(v) for v in vector.split(",")]
                if not np.all(np.isfinite(components)) or np.linalg.norm(components) == 0:
                    raise InputError(f"{path} has a zero or undefined space direction ({vector}); fix the header or "
                                     "export the image again.")


def check_file(path: Path) -> None:
    """The checks that must run before ITK parses ``path``."""
    suffix = path.name.lower()
    if suffix.endswith((".nhdr", ".mhd")):
        check_detached_data(path)
    if suffix.endswith((".nrrd", ".nhdr")):
        check_nrrd_header(path)
    if suffix.endswith((".nii", ".nii.gz")):
        check_nifti(path)


def check_image(image: sitk.Image, path: os.PathLike) -> None:
    """Dimension, components, voxel type and geometry of an image ITK has read."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path} has {image.GetNumberOfComponentsPerPixel()} components per voxel (RGB or "
                         "vector image); SPDSegment needs a single-channel grey-level volume. Convert it to "
                         "greyscale first.")
    if image.GetPixelID() in COMPLEX_PIXEL_IDS:
        raise InputError(f"{path} holds complex voxels; SPDSegment needs real grey levels (take the magnitude "
                         "first).")
    if image.GetDimension() != 3:
        what = "a 2D image" if image.GetDimension() == 2 else f"a {image.GetDimension()}D image"
        raise InputError(f"{path} is {what}; SPDSegment needs a 3D volume. "
                         + ("Extract one 3D frame (time point) first." if image.GetDimension() == 4 else
                            "Stack the slices into one 3D volume first."))
    spacing = np.array(image.GetSpacing())
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise InputError(f"{path} has voxel spacing {spacing.tolist()}; every spacing must be positive. Fix the "
                         "header or export the image again.")
    if not np.all(np.isfinite(image.GetOrigin())):
        raise InputError(f"{path} has an undefined origin {list(image.GetOrigin())}; fix the header.")
    direction = np.array(image.GetDirection()).reshape(3, 3)
    if not np.allclose(direction.T @ direction, np.eye(3), atol=1e-3):
        raise InputError(f"{path} has a direction matrix that is not orthonormal (sheared or scaled axes); resample "
                         "it onto an orthogonal grid first.")
