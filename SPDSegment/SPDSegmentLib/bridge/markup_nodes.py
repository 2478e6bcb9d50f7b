"""Markups nodes -> LPS world points for the engine."""

from __future__ import annotations

import numpy as np
from vtk.util import numpy_support

from ..errors import InputError
from ..inference.cpd import IN_SEGMENT
from ..inference.markup_files import MAX_POINTS

RAS_TO_LPS = np.array([-1.0, -1.0, 1.0])


def curve_points_lps(curve_node) -> np.ndarray:
    """(N, 3) LPS world positions of the curve as Slicer interpolates it (parent transforms applied)."""
    if curve_node.GetNumberOfDefinedControlPoints() < 2:
        raise InputError(f"Curve '{curve_node.GetName()}' needs at least two points; place more points on it.")
    if curve_node.GetNumberOfControlPoints() > MAX_POINTS:
        raise InputError(f"Curve '{curve_node.GetName()}' has {curve_node.GetNumberOfControlPoints()} control points, "
                         f"more than {MAX_POINTS}; resample it with fewer points (Markups module, Resample).")
    points = curve_node.GetCurvePointsWorld()
    if points is None or points.GetNumberOfPoints() < 2:
        raise InputError(f"Curve '{curve_node.GetName()}' has no interpolated points.")
    return numpy_support.vtk_to_numpy(points.GetData()).astype(float) * RAS_TO_LPS


def control_points_lps(points_node) -> np.ndarray:
    """(N, 3) LPS world positions of the defined control points of a point list."""
    defined = []
    for index in range(points_node.GetNumberOfControlPoints()):
        if points_node.GetNthControlPointPositionStatus(index) != points_node.PositionDefined:
            continue
        position = [0.0, 0.0, 0.0]
        points_node.GetNthControlPointPositionWorld(index, position)
        defined.append(position)
    return np.reshape(defined, (-1, 3)) * RAS_TO_LPS


def fill_audit_node(points_node, points_lps: np.ndarray, statuses, descriptions) -> None:
    """Replace the node's points by the audit: label = status, description = saliency and source slice.

    One point list has two colours: the prompts the segment holds (kept on their own slice, borrowed from a
    neighbour, joined by overlap) are *selected* (green), the others (rejected, left out) are not (red); the
    label tells which.
    """
    import vtk

    was_modifying = points_node.StartModify()
    points_node.RemoveAllControlPoints()
    for position, status, description in zip(points_lps * RAS_TO_LPS, statuses, descriptions):
        index = points_node.AddControlPoint(vtk.vtkVector3d(*position), str(status))
        points_node.SetNthControlPointDescription(index, description)
        points_node.SetNthControlPointSelected(index, status in IN_SEGMENT)
        points_node.SetNthControlPointLocked(index, True)
    points_node.EndModify(was_modifying)
    if points_node.GetDisplayNode() is None:
        points_node.CreateDefaultDisplayNodes()
    display = points_node.GetDisplayNode()
    if display is not None:
        display.SetSelectedColor(0.2, 0.85, 0.2)
        display.SetColor(0.9, 0.15, 0.15)
