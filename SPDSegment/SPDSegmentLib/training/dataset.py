"""Training and evaluation cases: a JSON or CSV list of (image, label, label value, optional centerline)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..inference.io import read_label_mask, read_volume
from ..inference.markup_files import read_curve
from ..inference.slices import normalise_intensity, to_stack
from ..inference.volume import Volume


@dataclass(frozen=True)
class CaseSpec:
    image: Path
    label: Path
    label_value: int = 1
    centerline: Path | None = None
    name: str = ""


@dataclass
class Case:
    """A loaded case, sliced along its slicing axis.

    Attributes:
        volume: the image.
        mask_kji: (K, J, I) bool target.
        axis: slicing IJK axis.
        stack: (S, H, W) float32 image in [0, 1].
        target: (S, H, W) bool target.
        centerline_lps: list of (N, 3) curves, or None.
    """

    spec: CaseSpec
    volume: Volume
    mask_kji: np.ndarray
    axis: int
    stack: np.ndarray
    target: np.ndarray
    centerline_lps: list[np.ndarray] | None

    @property
    def target_slices(self) -> np.ndarray:
        return np.flatnonzero(self.target.reshape(len(self.target), -1).any(axis=1))


def read_case_list(path: str | os.PathLike) -> list[CaseSpec]:
    """Cases from a JSON list of objects or a CSV with a header; relative paths are from the list's folder.

    Keys/columns: ``image``, ``label``, ``label_value`` (default 1), ``centerline`` (optional), ``name``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Case list not found: {path}.")
    if path.suffix.lower() == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        rows = rows.get("cases", rows) if isinstance(rows, dict) else rows
    elif path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        raise InputError(f"Case list {path} must be .json or .csv.")
    specs = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not row.get("image") or not row.get("label"):
            raise InputError(f"{path}: case {number} needs 'image' and 'label'.")

        def resolve(value):
            value = Path(str(value)).expanduser()
            return value if value.is_absolute() else (path.parent / value)

        centerline = row.get("centerline") or None
        specs.append(CaseSpec(resolve(row["image"]), resolve(row["label"]), int(row.get("label_value") or 1),
                              resolve(centerline) if centerline else None,
                              str(row.get("name") or f"case{number}")))
    if not specs:
        raise InputError(f"{path} lists no cases.")
    return specs


def load_case(spec: CaseSpec, axis: str | int = "auto", percentiles=(0.5, 99.5)) -> Case:
    volume = read_volume(spec.image)
    mask = read_label_mask(spec.label, spec.label_value, like=volume)
    slicing_axis = volume.slicing_axis(axis)
    stack = np.ascontiguousarray(to_stack(normalise_intensity(volume.array_kji, *percentiles), slicing_axis))
    target = np.ascontiguousarray(to_stack(mask, slicing_axis))
    curves = read_curve(spec.centerline) if spec.centerline else None
    return Case(spec, volume, mask, slicing_axis, stack, target, curves)
