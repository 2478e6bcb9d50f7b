"""Slicer markups files (``.mrk.json``, markups schema 1.0.x) read and written without Slicer.

Positions are returned in LPS (the frame of ITK images); files in RAS are converted on reading.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .io import atomic_output

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


def read_markups(path: str | os.PathLike) -> list[Markup]:
    """All markups of a ``.mrk.json`` file; control points whose position is undefined are skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except FileNotFoundError:
        raise InputError(f"Markups file not found: {path}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not a Slicer markups JSON file ({error}). Save it from Slicer as .mrk.json.") \
            from None
    if not isinstance(document, dict) or not isinstance(document.get("markups"), list):
        raise InputError(f"{path} has no 'markups' list; save it from Slicer's Markups module as .mrk.json.")
    markups = []
    for entry in document["markups"]:
        system = str(entry.get("coordinateSystem", "LPS")).upper()
        if system not in ("LPS", "RAS"):
            raise InputError(f"{path}: unknown coordinateSystem {system!r} (expected LPS or RAS).")
        points, labels, descriptions = [], [], []
        for point in entry.get("controlPoints", []):
            if point.get("positionStatus", "defined") == "undefined" or "position" not in point:
                continue
            position = np.asarray(point["position"], float)
            if position.shape != (3,) or not np.all(np.isfinite(position)):
                raise InputError(f"{path}: control point {point.get('label', '?')} has an invalid position.")
            points.append(position * RAS_LPS if system == "RAS" else position)
            labels.append(str(point.get("label", "")))
            descriptions.append(str(point.get("description", "")))
        if str(entry.get("coordinateUnits", "mm")) == "um":
            points = [p / 1000.0 for p in points]
        markups.append(Markup(str(entry.get("type", "")), np.reshape(points, (-1, 3)), labels, descriptions,
                              str(entry.get("name", ""))))
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
                  name: str = "", force: bool = False, color=None) -> None:
    """Write one markup (``Curve`` or ``Fiducial``) in LPS, atomically."""
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
    with atomic_output(path, force) as tmp:
        tmp.write_text(json.dumps({"@schema": SCHEMA, "markups": [markup]}, indent=2), encoding="utf-8")
