"""Volume nodes <-> engine :class:`Volume` (LPS), parent transforms included."""

from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support

from ..errors import InputError
from ..inference.volume import Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def matrix_to_numpy(matrix: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def numpy_to_matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def node_to_world(node) -> np.ndarray:
    """(4, 4) RAS matrix from ``node``'s local frame to world; raises for non-linear parent transforms."""
    transform = node.GetParentTransformNode()
    if transform is None:
        return np.eye(4)
    if not transform.IsTransformToWorldLinear():
        raise InputError(f"'{node.GetName()}' is under a non-linear transform; harden the transform (Data module) "
                         "before segmenting.")
    matrix = vtk.vtkMatrix4x4()
    transform.GetMatrixTransformToWorld(matrix)
    return matrix_to_numpy(matrix)


def ijk_to_world_ras(volume_node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return node_to_world(volume_node) @ matrix_to_numpy(matrix)


def volume_from_node(volume_node) -> Volume:
    """The node's voxels and world geometry as an engine :class:`Volume` (arrays are copied).

    Raises:
        InputError: no image data, several components, NaN/inf voxels, or a non-linear parent transform.
    """
    if volume_node is None:
        raise InputError("Select an input volume.")
    image = volume_node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise InputError(f"Volume '{volume_node.GetName()}' has no voxels; load an image first.")
    if image.GetNumberOfScalarComponents() != 1:
        raise InputError(f"Volume '{volume_node.GetName()}' has {image.GetNumberOfScalarComponents()} components "
                         "(RGB or vector); convert it to a scalar volume first.")
    i, j, k = image.GetDimensions()
    if min(i, j, k) < 1 or (i * j * k) <= 1:
        raise InputError(f"Volume '{volume_node.GetName()}' is empty.")
    array = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i).copy()
    if not np.all(np.isfinite(array)):
        raise InputError(f"Volume '{volume_node.GetName()}' has NaN or infinite voxels; replace them first.")
    ijk_to_lps = RAS_TO_LPS @ ijk_to_world_ras(volume_node)
    linear = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(linear, axis=0)
    return Volume(array, spacing, ijk_to_lps[:3, 3], linear / spacing[None, :])


def image_data_from_array(array_kji: np.ndarray) -> vtk.vtkImageData:
    array_kji = np.ascontiguousarray(array_kji)
    image = vtk.vtkImageData()
    image.SetDimensions(array_kji.shape[2], array_kji.shape[1], array_kji.shape[0])
    scalars = numpy_support.numpy_to_vtk(array_kji.ravel(), deep=True)
    image.GetPointData().SetScalars(scalars)
    return image


def fill_volume_like(target_node, reference_node, array_kji: np.ndarray) -> None:
    """Put ``array_kji`` into ``target_node`` on ``reference_node``'s grid and under its parent transform."""
    matrix = vtk.vtkMatrix4x4()
    reference_node.GetIJKToRASMatrix(matrix)
    target_node.SetIJKToRASMatrix(matrix)
    target_node.SetAndObserveImageData(image_data_from_array(array_kji))
    target_node.SetAndObserveTransformNodeID(reference_node.GetTransformNodeID())
