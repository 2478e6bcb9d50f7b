"""The MRML bridge on real MRML (slicer-core), without a model: volume nodes to LPS geometry through parent
transforms, markups to LPS points, the audit point list, and segments written, read back and undone. Expected
values are worked out by hand from the node's settings, not through the bridge."""

import itertools

import numpy as np
import pytest
import vtk

from SPDSegmentLib.bridge import markup_nodes
from SPDSegmentLib.bridge.markup_nodes import control_points_lps, curve_points_lps, fill_audit_node
from SPDSegmentLib.bridge.segmentation import SegmentSnapshot, segment_array, show_in_3d, write_segment
from SPDSegmentLib.bridge.volumes import (fill_volume_like, image_data_from_array, matrix_to_numpy, numpy_to_matrix,
                                          volume_from_node)
from SPDSegmentLib.errors import InputError

FLIP = np.diag([-1.0, -1.0, 1.0])  # RAS <-> LPS


def rotation_z(degrees: float) -> np.ndarray:
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def volume_node(scene, array_kji, spacing, origin_ras, directions_ras, name="volume"):
    """A scalar volume node set the way Slicer's loaders set one: spacing, origin, direction columns."""
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    node.SetSpacing(*spacing)
    node.SetOrigin(*origin_ras)
    matrix = vtk.vtkMatrix4x4()
    for r in range(3):
        for c in range(3):
            matrix.SetElement(r, c, directions_ras[r, c])
    node.SetIJKToRASDirectionMatrix(matrix)
    node.SetAndObserveImageData(image_data_from_array(np.asarray(array_kji)))
    return node


def linear_transform(scene, rotation: np.ndarray, translation, name="move"):
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, translation
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformToParent(numpy_to_matrix(matrix))
    return node, matrix


def test_matrices_round_trip_element_by_element():
    array = np.arange(16, dtype=float).reshape(4, 4) * 1.5 - 3.0
    matrix = numpy_to_matrix(array)
    assert matrix.GetElement(1, 2) == array[1, 2] and matrix.GetElement(3, 0) == array[3, 0]
    assert np.array_equal(matrix_to_numpy(matrix), array)


@pytest.mark.parametrize("under_transform", [False, True])
def test_a_volume_node_becomes_an_lps_volume_with_non_square_voxels_an_oblique_frame_and_its_transform(
        slicer_scene, under_transform):
    array = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)  # K = 3, J = 4, I = 5
    spacing, origin, directions = (0.7, 1.3, 2.5), np.array([10.0, -20.0, 30.0]), rotation_z(30.0)
    node = volume_node(slicer_scene.scene, array, spacing, origin, directions)
    world = np.eye(4)
    if under_transform:
        transform, world = linear_transform(slicer_scene.scene, rotation_z(-90.0), (5.0, 6.0, -7.0))
        node.SetAndObserveTransformNodeID(transform.GetID())
    volume = volume_from_node(node)
    # by hand: IJK -> RAS is [directions * spacing | origin], then the parent transform, then R and A negated
    expected_directions = FLIP @ world[:3, :3] @ directions
    expected_origin = FLIP @ (world[:3, :3] @ origin + world[:3, 3])
    assert np.allclose(volume.spacing, spacing)
    assert np.allclose(volume.origin, expected_origin)
    assert np.allclose(volume.direction, expected_directions)
    assert np.array_equal(volume.array_kji, array) and volume.array_kji.shape == (3, 4, 5)
    node.GetImageData().GetPointData().GetScalars().SetValue(0, 999)  # the engine holds a copy
    assert volume.array_kji[0, 0, 0] == 0


def test_a_volume_node_that_cannot_be_segmented_says_what_to_do(slicer_scene):
    scene = slicer_scene.scene
    with pytest.raises(InputError, match="^Select an input volume"):
        volume_from_node(None)
    bare = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "bare")
    with pytest.raises(InputError, match="'bare' has no voxels; load an image first"):
        volume_from_node(bare)
    rgb = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "rgb")
    image = vtk.vtkImageData()
    image.SetDimensions(4, 4, 2)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 3)
    rgb.SetAndObserveImageData(image)
    with pytest.raises(InputError, match="'rgb' has 3 components .* convert it to a scalar volume first"):
        volume_from_node(rgb)
    one = volume_node(scene, np.zeros((1, 1, 1), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3), "one")
    with pytest.raises(InputError, match="'one' is empty"):
        volume_from_node(one)
    for shape in itertools.product((1, 2), repeat=3):  # two voxels along any axis or axes are a volume
        if shape != (1, 1, 1):
            small = volume_node(scene, np.zeros(shape, np.float32), (1, 1, 1), (0, 0, 0), np.eye(3), "small")
            assert volume_from_node(small).array_kji.shape == shape
    for bad in (np.nan, np.inf, -np.inf):
        array = np.zeros((2, 3, 3), np.float32)
        array[1, 2, 0] = bad
        node = volume_node(scene, array, (1, 1, 1), (0, 0, 0), np.eye(3), "holes")
        with pytest.raises(InputError, match="'holes' has NaN or infinite voxels; replace them first"):
            volume_from_node(node)


def non_linear_transform(scene):
    spline = vtk.vtkThinPlateSplineTransform()
    source, target = vtk.vtkPoints(), vtk.vtkPoints()
    for p, q in [((0, 0, 0), (0, 0, 0)), ((10, 0, 0), (12, 0, 0)), ((0, 10, 0), (0, 10, 1)), ((0, 0, 10), (0, 1, 10)),
                 ((5, 5, 5), (6, 5, 5))]:
        source.InsertNextPoint(*p)
        target.InsertNextPoint(*q)
    spline.SetSourceLandmarks(source)
    spline.SetTargetLandmarks(target)
    spline.SetBasisToR()
    node = scene.AddNewNodeByClass("vtkMRMLTransformNode", "warp")
    node.SetAndObserveTransformToParent(spline)
    return node


def test_a_node_under_a_non_linear_transform_is_refused_with_the_fix(slicer_scene):
    node = volume_node(slicer_scene.scene, np.zeros((2, 3, 3), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3), "warped")
    node.SetAndObserveTransformNodeID(non_linear_transform(slicer_scene.scene).GetID())
    with pytest.raises(InputError, match="'warped' is under a non-linear transform; harden the transform"):
        volume_from_node(node)


def test_image_data_holds_its_own_copy_of_the_voxels():
    array = np.zeros((2, 3, 4), np.float32)
    image = image_data_from_array(array)
    array[1, 2, 3] = 7.0  # the caller's array changes (or is freed) after the call
    assert image.GetScalarComponentAsDouble(3, 2, 1, 0) == 0.0


def test_a_filled_volume_takes_the_reference_grid_voxels_and_transform(slicer_scene):
    scene = slicer_scene.scene
    reference = volume_node(scene, np.zeros((2, 3, 4), np.float32), (0.5, 0.8, 3.0), (1, 2, 3), rotation_z(15.0))
    transform, _ = linear_transform(scene, np.eye(3), (1.0, 0.0, 0.0))
    reference.SetAndObserveTransformNodeID(transform.GetID())
    target = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "saliency")
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    fill_volume_like(target, reference, values)
    expected, got = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    reference.GetIJKToRASMatrix(expected)
    target.GetIJKToRASMatrix(got)
    assert np.allclose(matrix_to_numpy(got), matrix_to_numpy(expected))
    assert target.GetTransformNodeID() == transform.GetID()
    assert target.GetImageData().GetDimensions() == (4, 3, 2)
    assert np.array_equal(volume_from_node(target).array_kji, values)


def curve_node(scene, points_ras, name="centerline", kind="vtkMRMLMarkupsCurveNode"):
    node = scene.AddNewNodeByClass(kind, name)
    for point in points_ras:
        node.AddControlPoint(vtk.vtkVector3d(*point))
    return node


def test_curve_points_are_world_lps_through_the_curves_transform(slicer_scene):
    scene = slicer_scene.scene
    curve = curve_node(scene, [(1.0, 2.0, 3.0), (1.0, 2.0, 13.0)])
    transform, _ = linear_transform(scene, np.eye(3), (4.0, -5.0, 6.0))
    curve.SetAndObserveTransformNodeID(transform.GetID())
    points = curve_points_lps(curve)
    # a straight curve from RAS (5, -3, 9) to (5, -3, 19): L = -5, P = 3
    assert len(points) >= 2 and np.allclose(points[:, :2], [-5.0, 3.0])
    assert np.isclose(points[:, 2].min(), 9.0) and np.isclose(points[:, 2].max(), 19.0)


def test_a_straight_curve_of_two_interpolated_points_is_enough(slicer_scene):
    curve = curve_node(slicer_scene.scene, [(1.25, 2.5, 3.75), (1.25, 2.5, 13.5)])
    curve.SetCurveTypeToLinear()
    curve.SetNumberOfPointsPerInterpolatingSegment(1)
    assert np.allclose(curve_points_lps(curve), [[-1.25, -2.5, 3.75], [-1.25, -2.5, 13.5]])


def test_a_curve_with_too_few_or_too_many_points_says_what_to_do(slicer_scene, monkeypatch):
    scene = slicer_scene.scene
    with pytest.raises(InputError, match="'short' needs at least two points; place more points on it"):
        curve_points_lps(curve_node(scene, [(0.0, 0.0, 0.0)], "short"))
    monkeypatch.setattr(markup_nodes, "MAX_POINTS", 3)
    assert len(curve_points_lps(curve_node(scene, [(0, 0, 0), (0, 0, 5), (0, 0, 10)], "three"))) >= 3
    with pytest.raises(InputError, match="'long' has 4 control points, more than 3; resample it"):
        curve_points_lps(curve_node(scene, [(0, 0, 0), (0, 0, 5), (0, 0, 10), (0, 0, 15)], "long"))


def test_only_defined_control_points_count_in_world_lps(slicer_scene):
    scene = slicer_scene.scene
    points = curve_node(scene, [(1.0, 2.0, 3.0), (7.0, 7.0, 7.0), (-4.0, 5.0, -6.0), (8.0, 8.0, 8.0)], "clicks",
                        "vtkMRMLMarkupsFiducialNode")
    points.UnsetNthControlPointPosition(1)  # a point still being placed
    points.SetNthControlPointPositionMissing(3)  # a point skipped on purpose
    transform, _ = linear_transform(scene, rotation_z(90.0), (0.0, 0.0, 1.0))
    points.SetAndObserveTransformNodeID(transform.GetID())
    # rotated 90 degrees about S: (x, y) -> (-y, x); then up 1 mm in S; then R and A negated
    assert np.allclose(control_points_lps(points), [[2.0, -1.0, 4.0], [5.0, 4.0, -5.0]])
    empty = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "none")
    assert control_points_lps(empty).shape == (0, 3)


def test_the_audit_list_labels_colours_and_locks_each_prompt(slicer_scene):
    node = curve_node(slicer_scene.scene, [(9.0, 9.0, 9.0)], "audit", "vtkMRMLMarkupsFiducialNode")
    points_lps = np.array([[1.5, 2.25, 3.0], [-4.75, 5.5, 6.25], [7.0, -8.5, 9.75]])
    points_lps = np.concatenate([points_lps, points_lps[:2] + 1.0])
    # as the audit holds them; joined and left-out once the segment settled them
    statuses = np.array(["kept-local", "kept-neighbour", "rejected", "joined", "left-out"], dtype=object)
    fill_audit_node(node, points_lps, statuses, ["saliency 0.9", "from slice 4", "saliency 0.1", "j", "l"])
    assert node.GetNumberOfControlPoints() == 5  # the old point is gone
    for index, status in enumerate(statuses):
        position = [0.0, 0.0, 0.0]
        node.GetNthControlPointPosition(index, position)
        assert np.allclose(position, FLIP @ points_lps[index])
        assert node.GetNthControlPointLabel(index) == status
        # green: the prompts the segment holds; red: those it does not
        assert node.GetNthControlPointSelected(index) == (status in ("kept-local", "kept-neighbour", "joined"))
        assert node.GetNthControlPointLocked(index)
    assert node.GetNthControlPointDescription(1) == "from slice 4"
    display = node.GetDisplayNode()
    assert np.allclose(display.GetSelectedColor(), (0.2, 0.85, 0.2))
    assert np.allclose(display.GetColor(), (0.9, 0.15, 0.15))


def test_the_audit_list_gets_a_display_node_where_it_has_none():
    import slicer

    scene = slicer.vtkMRMLScene()  # no markups logic, which would have made one when the node was added
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "audit")
    assert node.GetDisplayNode() is None
    fill_audit_node(node, np.array([[1.0, 2.0, 3.0]]), ["rejected"], ["saliency 0.1"])
    assert node.GetDisplayNode() is not None and np.allclose(node.GetDisplayNode().GetColor(), (0.9, 0.15, 0.15))


def segmentation_setup(slicer_scene, move_segmentation: bool):
    scene = slicer_scene.scene
    volume = volume_node(scene, np.zeros((4, 6, 8), np.float32), (0.8, 1.2, 2.0), (3.0, -4.0, 5.0), rotation_z(20.0))
    transform, _ = linear_transform(scene, rotation_z(10.0), (2.0, 0.0, -1.0), "volume move")
    volume.SetAndObserveTransformNodeID(transform.GetID())
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segments")
    if move_segmentation:
        other, _ = linear_transform(scene, rotation_z(-35.0), (0.0, 7.0, 0.0), "segmentation move")
        segmentation.SetAndObserveTransformNodeID(other.GetID())
    return volume, segmentation


def box(slices, rows, columns, shape=(4, 6, 8)):
    mask = np.zeros(shape, np.uint8)
    mask[slices, rows, columns] = 1
    return mask


def segment_in_world(segmentation, segment_id, volume) -> np.ndarray:
    """The segment on the volume's grid, read independently of the bridge: each voxel centre of the volume, taken to
    world RAS by hand (its IJK-to-RAS matrix, then its parent transform), is looked up in the segment's labelmap as
    Slicer gives it in world RAS (the segmentation's parent transform applied by Slicer)."""
    import slicer
    from vtk.util import numpy_support

    labelmap = slicer.vtkOrientedImageData()
    assert slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(segmentation, segment_id,
                                                                                          labelmap, True)
    ijk_to_ras = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(ijk_to_ras)
    to_world = np.eye(4)
    if volume.GetParentTransformNode() is not None:
        matrix = vtk.vtkMatrix4x4()
        volume.GetParentTransformNode().GetMatrixTransformToWorld(matrix)
        to_world = matrix_to_numpy(matrix)
    image_to_world = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(image_to_world)
    world_to_labelmap = np.linalg.inv(matrix_to_numpy(image_to_world))
    i, j, k = volume.GetImageData().GetDimensions()
    grid = np.stack(np.meshgrid(np.arange(i), np.arange(j), np.arange(k), indexing="ij"), -1).reshape(-1, 3)
    homogeneous = np.c_[grid, np.ones(len(grid))].T
    at = np.rint((world_to_labelmap @ to_world @ matrix_to_numpy(ijk_to_ras) @ homogeneous)[:3].T).astype(int)
    extent = labelmap.GetExtent()
    values = numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(
        extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    inside = np.all((at >= [extent[0], extent[2], extent[4]]) & (at <= [extent[1], extent[3], extent[5]]), axis=1)
    mask = np.zeros((k, j, i), np.uint8)
    found = at[inside] - [extent[0], extent[2], extent[4]]
    label = segmentation.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    mask[grid[inside, 2], grid[inside, 1], grid[inside, 0]] = values[found[:, 2], found[:, 1], found[:, 0]] == label
    return mask


@pytest.mark.parametrize("move_segmentation", [False, True])
def test_a_written_segment_reads_back_voxel_for_voxel_and_leaves_the_others(slicer_scene, move_segmentation):
    """The volume and the segmentation under different transforms, checked in world coordinates by hand (reading
    the segment back once took Slicer's world labelmap for one in the segmentation's frame: three rows off)."""
    volume, segmentation = segmentation_setup(slicer_scene, move_segmentation)
    first = box(slice(0, 2), slice(1, 3), slice(2, 5))
    first_id = write_segment(segmentation, volume, first, "bowel")
    assert segmentation.GetSegmentation().GetSegment(first_id).GetName() == "bowel"
    assert np.array_equal(segment_in_world(segmentation, first_id, volume), first)
    assert np.array_equal(segment_array(segmentation, first_id, volume), first)
    second = box(slice(1, 4), slice(2, 6), slice(0, 3))  # overlaps the first
    second_id = write_segment(segmentation, volume, second, "ileum", color=(0.1, 0.2, 0.3))
    assert second_id != first_id
    assert np.allclose(segmentation.GetSegmentation().GetSegment(second_id).GetColor(), (0.1, 0.2, 0.3))
    assert np.array_equal(segment_array(segmentation, second_id, volume), second)
    assert np.array_equal(segment_array(segmentation, first_id, volume), first)
    replaced = box(slice(3, 4), slice(0, 1), slice(7, 8))
    assert write_segment(segmentation, volume, replaced, "bowel") == first_id  # same name: replaced, not added
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2
    assert np.array_equal(segment_array(segmentation, first_id, volume), replaced)
    assert np.array_equal(segment_array(segmentation, second_id, volume), second)


def test_a_segment_reads_back_on_a_smaller_grid_and_a_new_segmentation_takes_the_volumes_geometry(slicer_scene):
    scene = slicer_scene.scene
    big = volume_node(scene, np.zeros((4, 6, 8), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3), "big")
    crop = volume_node(scene, np.zeros((2, 3, 4), np.float32), (1, 1, 1), (2, 2, 1), np.eye(3), "crop")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segments")
    role = segmentation.GetReferenceImageGeometryReferenceRole()
    mask = box(slice(0, 4), slice(1, 5), slice(1, 7))
    bowel = write_segment(segmentation, big, mask, "bowel")
    assert segmentation.GetNodeReference(role) is big  # a new segmentation takes the volume's grid
    # the crop starts at voxel (i, j, k) = (2, 2, 1) of the big volume: the segment beyond it is cut, not padded
    assert np.array_equal(segment_array(segmentation, bowel, crop), mask[1:3, 2:5, 2:6])
    assert np.allclose(segmentation.GetSegmentation().GetSegment(bowel).GetColor(), (0.9, 0.5, 0.2))
    geometry = segmentation.GetSegmentation().GetConversionParameter("Reference image geometry")
    write_segment(segmentation, crop, box(0, 0, 0, (2, 3, 4)), "ileum")
    # a segmentation that holds segments keeps the grid the user made it on
    assert segmentation.GetNodeReference(role) is big
    assert segmentation.GetSegmentation().GetConversionParameter("Reference image geometry") == geometry
    segmentation.RemoveNodeReferenceIDs(role)  # as one loaded from a .seg.nrrd: segments, no reference volume
    write_segment(segmentation, crop, box(1, 1, 1, (2, 3, 4)), "colon")
    assert segmentation.GetNodeReference(role) is None
    assert segmentation.GetSegmentation().GetConversionParameter("Reference image geometry") == geometry


@pytest.mark.parametrize("voxel", [(3, 2, 0), (0, 1, 6)])  # extents i 0..0 and k 3..3; j 1..1 below i 6..6
def test_a_snapshot_puts_back_a_segment_of_one_voxel(slicer_scene, voxel):
    volume, segmentation = segmentation_setup(slicer_scene, False)
    one = np.zeros((4, 6, 8), np.uint8)
    one[voxel] = 1
    segment = write_segment(segmentation, volume, one, "bowel")
    snapshot = SegmentSnapshot(segmentation, "bowel")
    write_segment(segmentation, volume, box(slice(0, 2), slice(3, 5), slice(1, 4)), "bowel")
    snapshot.restore(segmentation, segment)
    assert np.array_equal(segment_in_world(segmentation, segment, volume), one)


def test_segments_sharing_one_labelmap_layer_read_back_apart(slicer_scene):
    """Slicer keeps segments that do not overlap in one layer, each with its own label value."""
    volume, segmentation = segmentation_setup(slicer_scene, True)
    first, second = box(slice(0, 2), slice(0, 2), slice(0, 3)), box(slice(2, 4), slice(3, 6), slice(4, 8))
    first_id = write_segment(segmentation, volume, first, "bowel")
    second_id = write_segment(segmentation, volume, second, "ileum")
    segmentation.GetSegmentation().CollapseBinaryLabelmaps(False)
    labels = {segmentation.GetSegmentation().GetSegment(i).GetLabelValue() for i in (first_id, second_id)}
    assert len(labels) == 2 and segmentation.GetSegmentation().GetNumberOfLayers() == 1
    assert np.array_equal(segment_array(segmentation, first_id, volume), first)
    assert np.array_equal(segment_array(segmentation, second_id, volume), second)


def test_a_snapshot_puts_a_segment_back_or_removes_the_one_a_run_made(slicer_scene):
    volume, segmentation = segmentation_setup(slicer_scene, True)
    before = box(slice(0, 3), slice(2, 4), slice(1, 6))
    bowel = write_segment(segmentation, volume, before, "bowel")
    snapshot = SegmentSnapshot(segmentation, "bowel")
    assert snapshot.segment_id == bowel
    write_segment(segmentation, volume, box(slice(3, 4), slice(0, 2), slice(0, 2)), "bowel")
    snapshot.restore(segmentation, bowel)
    assert np.array_equal(segment_in_world(segmentation, bowel, volume), before)

    new = SegmentSnapshot(segmentation, "ileum")
    assert new.segment_id is None and new.labelmap is None
    ileum = write_segment(segmentation, volume, box(0, 0, 0), "ileum")
    new.restore(segmentation, ileum)
    assert segmentation.GetSegmentation().GetSegment(ileum) is None
    with pytest.raises(RuntimeError, match="Segment 'ileum' is no longer in 'segments'; nothing to undo"):
        new.restore(segmentation, ileum)

    empty_id = write_segment(segmentation, volume, np.zeros((4, 6, 8), np.uint8), "empty")
    empty = SegmentSnapshot(segmentation, "empty")
    write_segment(segmentation, volume, box(1, 1, 1), "empty")
    empty.restore(segmentation, empty_id)
    assert not segment_array(segmentation, empty_id, volume).any()
    assert np.array_equal(segment_array(segmentation, bowel, volume), before)


def test_a_segment_read_on_a_grid_shifted_by_less_than_half_a_voxel_takes_the_nearest_voxels(slicer_scene):
    scene = slicer_scene.scene
    volume = volume_node(scene, np.zeros((4, 6, 8), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3), "volume")
    shifted = volume_node(scene, np.zeros((4, 6, 8), np.float32), (1, 1, 1), (0.3, -0.3, 0.2), np.eye(3), "shifted")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segments")
    mask = box(slice(1, 3), slice(1, 5), slice(2, 7))
    bowel = write_segment(segmentation, volume, mask, "bowel")
    assert np.array_equal(segment_array(segmentation, bowel, shifted), mask)  # no blend at the edges


def test_show_in_3d_makes_the_display_node_where_there_is_none(slicer_scene):
    import slicer

    scene = slicer.vtkMRMLScene()  # no segmentations logic on this scene, which would have made one
    volume = volume_node(scene, np.zeros((4, 6, 8), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3), "volume")
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segments")
    write_segment(segmentation, volume, box(slice(1, 3), slice(1, 5), slice(2, 6)), "bowel")
    assert segmentation.GetDisplayNode() is None
    show_in_3d(segmentation)
    assert segmentation.GetDisplayNode() is not None and segmentation.GetDisplayNode().GetVisibility3D()


def test_show_in_3d_builds_surfaces_and_shows_them(slicer_scene):
    volume, segmentation = segmentation_setup(slicer_scene, False)
    write_segment(segmentation, volume, box(slice(1, 3), slice(1, 5), slice(2, 6)), "bowel")
    segmentation.CreateDefaultDisplayNodes()
    segmentation.GetDisplayNode().SetVisibility3D(False)  # the user had hidden it in 3D
    show_in_3d(segmentation)
    assert segmentation.GetSegmentation().ContainsRepresentation("Closed surface")
    assert segmentation.GetDisplayNode().GetVisibility3D()
