"""Slicer markups files (``.mrk.json``, markups schema 1.0.x) read and written without Slicer.

Positions are returned in LPS (the frame of ITK images); files in RAS are converted on reading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .io import destination
from .schema import expect, load_json, text

SCHEMA = "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#"
RAS_LPS = np.array([-1.0, -1.0, 1.0])


@dataclass
class Markup:
    """One markup of a ``.mrk.json`` file.

    Attributes:
        kind: ``Curve``, ``ClosedCurve``, ``Fiducial``, ``Line`` ...
        points_lps: (N, 3) control point positions, LPS mm.
        labels: control point labels.
        descriptions: control point descriptions.
    """

    kind: str
    points_lps: np.ndarray
    labels: list[str] = field(default_factory=list)
    descriptions: list[str] = field(default_factory=list)
    name: str = ""


MAX_POINTS = 100_000
UNITS_TO_MM = {"mm": 1.0, "um": 0.001}
FIX = "Save it from Slicer's Markups module as .mrk.json."


def read_markups(path: str | os.PathLike) -> list[Markup]:
    """All markups of a ``.mrk.json`` file; control points whose position is undefined are skipped.

    Raises:
        InputError: not a markups document, a field of the wrong kind, units or coordinates the engine does not
            handle, or more than ``MAX_POINTS`` control points; the message names the file and the field.
    """
    document = load_json(path, "markups file", FIX)
    expect(isinstance(document, dict) and isinstance(document.get("markups"), list), path, "the document",
           type(document).__name__, "an object with a 'markups' list", FIX)
    markups = []
    for number, entry in enumerate(document["markups"], 1):
        where = f"markup {number}"
        expect(isinstance(entry, dict), path, where, entry, "an object", FIX)
        system = str(entry.get("coordinateSystem", "LPS")).upper()
        expect(system in ("LPS", "RAS"), path, f"{where} coordinateSystem", system, "LPS or RAS", FIX)
        units = str(entry.get("coordinateUnits", "mm"))
        expect(units in UNITS_TO_MM, path, f"{where} coordinateUnits", units, "mm or um", FIX)
        control_points = entry.get("controlPoints", [])
        expect(isinstance(control_points, list), path, f"{where} controlPoints", control_points, "a list", FIX)
        expect(len(control_points) <= MAX_POINTS, path, f"{where} controlPoints", f"{len(control_points)} points",
               f"at most {MAX_POINTS} (resample the curve with fewer control points)", FIX)
        points, labels, descriptions = [], [], []
        for point in control_points:
            expect(isinstance(point, dict), path, f"{where} control point", point, "an object", FIX)
            if point.get("positionStatus", "defined") == "undefined" or "position" not in point:
                continue
            position = point["position"]
            valid = isinstance(position, list) and len(position) == 3 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in position)
            position = np.asarray(position if valid else [np.nan] * 3, float)
            expect(valid and bool(np.all(np.isfinite(position))), path,
                   f"{where} control point {text(point.get('label', '?'))!r} position", point.get("position"),
                   "three finite numbers", FIX)
            points.append(position * RAS_LPS if system == "RAS" else position)
            labels.append(text(point.get("label", "")))
            descriptions.append(text(point.get("description", "")))
        points = [p * UNITS_TO_MM[units] for p in points]
        markups.append(Markup(text(entry.get("type", "")), np.reshape(points, (-1, 3)), labels, descriptions,
                              text(entry.get("name", ""))))
    return markups


def read_markup_points(path: str | os.PathLike, kinds: tuple[str, ...]) -> np.ndarray:
    """(N, 3) LPS points of every markup in ``path`` whose type is in ``kinds``."""
    found = [m for m in read_markups(path) if m.kind in kinds]
    if not found:
        raise InputError(f"{path} holds no markup of type {' or '.join(kinds)}.")
    return np.concatenate([m.points_lps for m in found], axis=0)


def read_curve(path: str | os.PathLike) -> list[np.ndarray]:
    """Control points (LPS) of each Curve/ClosedCurve in the file, one array per curve."""
    curves = [m for m in read_markups(path) if m.kind in ("Curve", "ClosedCurve", "Line")]
    if not curves:
        raise InputError(f"{path} holds no Curve markup; draw the centerline with Slicer's curve tool.")
    out = []
    for curve in curves:
        points = curve.points_lps
        if curve.kind == "ClosedCurve" and len(points) > 2:
            points = np.vstack([points, points[:1]])
        out.append(points)
    return out


def write_markups(path: str | os.PathLike, kind: str, points_lps: np.ndarray, labels=None, descriptions=None,
                  name: str = "", force: bool = False, color=None, outputs=None) -> None:
    """Write one markup (``Curve`` or ``Fiducial``) in LPS, atomically (or into the :class:`~.io.OutputSet`
    ``outputs``)."""
    points_lps = np.asarray(points_lps, float).reshape(-1, 3)
    labels = labels or [f"{name or kind}-{i + 1}" for i in range(len(points_lps))]
    descriptions = descriptions or [""] * len(points_lps)
    control_points = [
        {"id": str(i + 1), "label": labels[i], "description": descriptions[i], "associatedNodeID": "",
         "position": [float(v) for v in p], "orientation": [-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0],
         "selected": True, "locked": False, "visibility": True, "positionStatus": "defined"}
        for i, p in enumerate(points_lps)]
    markup = {"type": kind, "coordinateSystem": "LPS", "coordinateUnits": "mm", "locked": False,
              "labelFormat": "%N-%d", "controlPoints": control_points}
    if name:
        markup["name"] = name
    if color is not None:
        markup["display"] = {"selectedColor": list(color), "color": list(color)}
    with destination(path, force, outputs) as tmp:
        tmp.write_text(json.dumps({"@schema": SCHEMA, "markups": [markup]}, indent=2), encoding="utf-8")
