"""Training and evaluation cases: a JSON or CSV list of (image, label, label value, optional centerline)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..inference.io import read_label_mask, read_volume
from ..inference.markup_files import read_curve
from ..inference.schema import expect, load_json, positive_int, text
from ..inference.slices import IntensityScaling, to_stack
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


CASE_LIST_FIX = ("A case list is a JSON list of objects or a CSV with a header row, with the fields image, label, "
                 "label_value (default 1), centerline (optional) and name (optional).")


def _csv_rows(path: Path) -> list[dict]:
    content = path.read_text(encoding="utf-8-sig")  # Excel writes a byte-order mark first
    try:
        dialect = csv.Sniffer().sniff(content.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else v for k, v in row.items()}
            for row in csv.DictReader(content.splitlines(), dialect=dialect)]


def read_case_list(path: str | os.PathLike) -> list[CaseSpec]:
    """Cases from a JSON list of objects or a CSV with a header (comma, semicolon or tab separated); relative
    paths are from the list's folder.

    Keys/columns: ``image``, ``label``, ``label_value`` (default 1), ``centerline`` (optional), ``name``.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        rows = load_json(path, "case list", CASE_LIST_FIX)
        rows = rows.get("cases", rows) if isinstance(rows, dict) else rows
    elif path.suffix.lower() == ".csv":
        if not path.is_file():
            raise InputError(f"Case list not found: {path}.")
        rows = _csv_rows(path)
    else:
        raise InputError(f"Case list {path} must be .json or .csv.")
    expect(isinstance(rows, list), path, "the document", rows, "a list of cases", CASE_LIST_FIX)
    specs = []
    for number, row in enumerate(rows, 1):
        expect(isinstance(row, dict), path, f"case {number}", row, "an object", CASE_LIST_FIX)
        for key in ("image", "label"):
            expect(isinstance(row.get(key), str) and bool(row[key].strip()), path, f"case {number} {key}",
                   row.get(key), "a file path", CASE_LIST_FIX)
        label_value = row.get("label_value")
        label_value = 1 if label_value in (None, "") else positive_int(label_value, path, f"case {number} label_value",
                                                                       CASE_LIST_FIX)

        def resolve(value):
            value = Path(str(value)).expanduser()
            return value if value.is_absolute() else (path.parent / value)

        centerline = row.get("centerline") or None
        specs.append(CaseSpec(resolve(row["image"]), resolve(row["label"]), label_value,
                              resolve(centerline) if centerline else None,
                              text(row.get("name") or f"case{number}")))
    if not specs:
        raise InputError(f"{path} lists no cases.")
    return specs


def load_case(spec: CaseSpec, axis: str | int = "auto", scaling: IntensityScaling = IntensityScaling()) -> Case:
    """The case's volume, label and centerline, and its slice stack scaled as ``scaling`` (an adapter's) says."""
    volume = read_volume(spec.image)
    mask = read_label_mask(spec.label, spec.label_value, like=volume)
    slicing_axis = volume.slicing_axis(axis)
    stack = np.ascontiguousarray(to_stack(scaling.scale(volume.array_kji), slicing_axis))
    target = np.ascontiguousarray(to_stack(mask, slicing_axis))
    curves = read_curve(spec.centerline) if spec.centerline else None
    return Case(spec, volume, mask, slicing_axis, stack, target, curves)


def load_named_cases(path: str | os.PathLike, names=()):
    """Yield the loaded cases of the list at ``path``, only those named in ``names`` when it is not empty."""
    for spec in read_case_list(path):
        if not names or spec.name in names:
            yield load_case(spec)
