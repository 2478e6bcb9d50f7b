"""Write one segment into a segmentation node, leaving every other segment exactly as it was."""

from __future__ import annotations

import numpy as np
import vtk
from vtk.util import numpy_support

import slicer

from .volumes import ijk_to_world_ras, node_to_world, numpy_to_matrix


def _oriented_image(mask_kji: np.ndarray, image_to_segmentation: np.ndarray):
    mask = np.ascontiguousarray(mask_kji.astype(np.uint8))
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(mask.shape[2], mask.shape[1], mask.shape[0])
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = mask.ravel()
    image.SetImageToWorldMatrix(numpy_to_matrix(image_to_segmentation))
    return image


def write_segment(segmentation_node, volume_node, mask_kji: np.ndarray, name: str,
                  color=(0.9, 0.5, 0.2)) -> str:
    """Add segment ``name`` (or replace the one of that name) with ``mask_kji`` on ``volume_node``'s grid.

    The segment is moved to a labelmap layer of its own first, so no other segment's voxels change.

    Returns:
        The segment ID.
    """
    segmentation = segmentation_node.GetSegmentation()
    if segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole()) is None \
            and segmentation.GetNumberOfSegments() == 0:
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    segment_id = segmentation.GetSegmentIdBySegmentName(name)
    if not segment_id:
        segment_id = segmentation.AddEmptySegment("", name, list(color))
    segmentation.SeparateSegmentLabelmap(segment_id)
    # voxel IJK -> world -> the segmentation node's own frame (it may sit under another transform)
    image_to_segmentation = np.linalg.inv(node_to_world(segmentation_node)) @ ijk_to_world_ras(volume_node)
    image = _oriented_image(mask_kji, image_to_segmentation)
    if not slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
            image, segmentation_node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE,
            image.GetExtent()):
        raise RuntimeError(f"Could not write segment '{name}' into '{segmentation_node.GetName()}'.")
    return segment_id


def segment_array(segmentation_node, segment_id: str, volume_node) -> np.ndarray:
    """(K, J, I) uint8 0/1 mask of one segment resampled onto ``volume_node``'s grid."""
    labelmap = slicer.vtkOrientedImageData()
    # in the segmentation node's own frame (applyParentTransform off), like the reference grid below
    slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(segmentation_node, segment_id,
                                                                                  labelmap, False)
    reference = slicer.vtkOrientedImageData()
    reference.SetDimensions(volume_node.GetImageData().GetDimensions())
    reference.SetImageToWorldMatrix(numpy_to_matrix(np.linalg.inv(node_to_world(segmentation_node))
                                                    @ ijk_to_world_ras(volume_node)))
    resampled = slicer.vtkOrientedImageData()
    # nearest neighbour, and no padding: exactly the volume's grid, even where the segment reaches beyond it
    slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(labelmap, reference, resampled,
                                                                                      False, False)
    i, j, k = resampled.GetDimensions()
    array = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars()).reshape(k, j, i)
    label = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    return (array == label).astype(np.uint8)



class SegmentSnapshot:
    """A segment as it was before a run overwrote it (or that it did not exist), to undo the run.

    ``labelmap`` is a copy of the segment's own binary labelmap (its geometry and extent, as stored), so
    restoring it is bit-exact.
    """

    def __init__(self, segmentation_node, name: str):
        segmentation = segmentation_node.GetSegmentation()
        self.name = name
        self.segment_id = segmentation.GetSegmentIdBySegmentName(name) or None
        self.labelmap = None
        if self.segment_id is not None:
            self.labelmap = slicer.vtkOrientedImageData()
            # in the segmentation node's own frame, as SetBinaryLabelmapToSegment takes it back
            slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
                segmentation_node, self.segment_id, self.labelmap, False)

    def restore(self, segmentation_node, segment_id: str) -> None:
        """Put segment ``segment_id`` back as it was; remove it if the run created it."""
        segmentation = segmentation_node.GetSegmentation()
        if segmentation.GetSegment(segment_id) is None:
            raise RuntimeError(f"Segment '{self.name}' is no longer in '{segmentation_node.GetName()}'; nothing to "
                               "undo.")
        if self.segment_id is None:
            segmentation.RemoveSegment(segment_id)
            return
        logic = slicer.vtkSlicerSegmentationsModuleLogic
        logic.ClearSegment(segmentation_node, segment_id)
        extent = self.labelmap.GetExtent()
        if extent[1] < extent[0]:  # the segment was empty before
            return
        if not logic.SetBinaryLabelmapToSegment(self.labelmap, segmentation_node, segment_id, logic.MODE_REPLACE, extent):
            raise RuntimeError(f"Could not restore segment '{self.name}'.")


def show_in_3d(segmentation_node) -> None:
    """Build the closed-surface representation of every segment and show it in the 3D views."""
    segmentation_node.CreateClosedSurfaceRepresentation()
    if segmentation_node.GetDisplayNode() is None:
        segmentation_node.CreateDefaultDisplayNodes()
    display = segmentation_node.GetDisplayNode()
    if display is not None:
        display.SetVisibility3D(True)
