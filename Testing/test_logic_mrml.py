"""segment_nodes on real MRML (slicer-core): geometry, untouched segments, saliency, audit, cancel, bad input."""

import numpy as np
import pytest
import vtk

from conftest import oblique_direction
from SPDSegmentLib.bridge.markup_nodes import curve_points_lps
from SPDSegmentLib.bridge.segmentation import segment_array, write_segment
from SPDSegmentLib.bridge.volumes import matrix_to_numpy, numpy_to_matrix, volume_from_node
from SPDSegmentLib.errors import InputError
from SPDSegmentLib.inference.io import read_label_mask, read_volume
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import Cancelled, SpdPredictor
from SPDSegmentLib.inference.prompts import curve_to_prompts
from SPDSegmentLib.training.simulate import simulate_clinician_centerline
from SPDSegmentLib.inference.volume import Volume
from SPDSegmentLib.logic import SegmentNodes, segment_nodes

CPU = InferenceOptions(device="cpu")


@pytest.fixture(scope="module")
def adapter_path(litemedsam, tmp_path_factory):
    from test_predictor_model import spd_model

    return str(spd_model(litemedsam, 10.0).save_adapter(tmp_path_factory.mktemp("logic") / "adapter.safetensors"))


def build_scene(slicer_scene, mr_crop, geometry):
    """Volume, curve and a segmentation holding an existing 'other' segment, in one of three geometries."""
    image, label, value = mr_crop
    volume = read_volume(image)
    mask = read_label_mask(label, value, volume)
    if geometry == "oblique-lps-flipped":
        volume = Volume(volume.array_kji, volume.spacing, (5.0, -30.0, 12.0), oblique_direction(4, flip=True))
    volume_node = slicer_scene.add_volume(volume, "MR")
    curve_lps = simulate_clinician_centerline(mask, volume, 2, seed=1)
    curve = slicer_scene.add_curve(curve_lps, "TI centerline")
    if geometry == "parent-transform":
        transform = slicer_scene.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
        moved = np.eye(4)
        moved[:3, :3] = oblique_direction(9, flip=False)
        moved[:3, 3] = (20.0, -10.0, 5.0)
        transform.SetMatrixTransformToParent(numpy_to_matrix(moved))
        volume_node.SetAndObserveTransformNodeID(transform.GetID())
        curve.SetAndObserveTransformNodeID(transform.GetID())
    segmentation = slicer_scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    segmentation.CreateDefaultDisplayNodes()
    other = np.zeros(volume.array_kji.shape, np.uint8)
    other[:, 10:40, 10:60] = 1
    other_id = write_segment(segmentation, volume_node, other, "other")
    return volume_node, curve, segmentation, other_id, other


@pytest.mark.parametrize("geometry", ["plain", "oblique-lps-flipped", "parent-transform"])
def test_segment_matches_engine_and_leaves_other_segments_voxel_identical(geometry, slicer_scene, mr_crop,
                                                                          adapter_path):
    volume_node, curve, segmentation, other_id, other = build_scene(slicer_scene, mr_crop, geometry)
    saliency = slicer_scene.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "saliency")
    audit = slicer_scene.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "audit")
    nodes = SegmentNodes(volume_node, segmentation, curve=curve, saliency=saliency, audit=audit,
                         segment_name="terminal ileum")
    result = segment_nodes(nodes, adapter_path, CPU)

    volume = volume_from_node(volume_node)
    engine = SpdPredictor(build_model(adapter_path), CPU)
    engine.set_volume(volume, 2)
    expected = engine.predict(curve_to_prompts(curve_points_lps(curve), volume, 2, spline=False))
    written = segment_array(segmentation, result.segment_id, volume_node)
    assert written.sum() > 0 and np.array_equal(written, expected.mask_kji)
    assert np.array_equal(segment_array(segmentation, other_id, volume_node), other)
    assert result.slices_processed == len(expected.slices) and result.prompts_kept > 0

    a, b = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(a)
    saliency.GetIJKToRASMatrix(b)
    assert np.allclose(matrix_to_numpy(a), matrix_to_numpy(b))
    assert saliency.GetTransformNodeID() == volume_node.GetTransformNodeID()
    assert saliency.GetImageData().GetDimensions() == volume_node.GetImageData().GetDimensions()
    statuses = [audit.GetNthControlPointLabel(i) for i in range(audit.GetNumberOfControlPoints())]
    assert statuses == expected.consensus.audit.status.tolist() and "kept-local" in statuses  # the engine's verdicts
    selected = [bool(audit.GetNthControlPointSelected(i)) for i in range(audit.GetNumberOfControlPoints())]
    assert selected == expected.consensus.audit.in_segment().tolist() and result.prompts_kept == sum(selected)
    assert "saliency" in audit.GetNthControlPointDescription(0)


def test_rerun_replaces_the_named_segment_instead_of_adding_one(slicer_scene, mr_crop, adapter_path):
    volume_node, curve, segmentation, _, _ = build_scene(slicer_scene, mr_crop, "plain")
    nodes = SegmentNodes(volume_node, segmentation, curve=curve, segment_name="TI")
    first = segment_nodes(nodes, adapter_path, CPU)
    second = segment_nodes(nodes, adapter_path, CPU)
    assert first.segment_id == second.segment_id
    assert segmentation.GetSegmentation().GetNumberOfSegments() == 2


def scene_snapshot(scene, segmentation, volume_node):
    ids = [segmentation.GetSegmentation().GetNthSegmentID(i)
           for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
    return (scene.GetNumberOfNodes(), ids, [segment_array(segmentation, i, volume_node).tobytes() for i in ids])


def test_cancel_leaves_the_scene_exactly_as_it_was(slicer_scene, mr_crop, adapter_path):
    volume_node, curve, segmentation, _, _ = build_scene(slicer_scene, mr_crop, "plain")
    saliency = slicer_scene.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "saliency")
    before = scene_snapshot(slicer_scene.scene, segmentation, volume_node)
    with pytest.raises(Cancelled):
        segment_nodes(SegmentNodes(volume_node, segmentation, curve=curve, saliency=saliency), adapter_path, CPU,
                      cancel=lambda: True)
    assert scene_snapshot(slicer_scene.scene, segmentation, volume_node) == before
    assert saliency.GetImageData() is None


def test_bad_input_raises_before_any_node_is_modified(slicer_scene, mr_crop, adapter_path):
    volume_node, curve, segmentation, _, _ = build_scene(slicer_scene, mr_crop, "plain")
    before = scene_snapshot(slicer_scene.scene, segmentation, volume_node)
    scene = slicer_scene.scene
    # every data node's modification time (singletons hold application state, which adding nodes changes)
    modified_times = {node.GetID(): node.GetMTime() for node in map(scene.GetNthNode, range(scene.GetNumberOfNodes()))
                      if not node.GetSingletonTag()}
    short = slicer_scene.scene.AddNewNodeByClass("vtkMRMLMarkupsCurveNode", "short")
    short.AddControlPoint(vtk.vtkVector3d(0, 0, 0))
    with pytest.raises(InputError, match="at least two"):
        segment_nodes(SegmentNodes(volume_node, segmentation, curve=short), adapter_path, CPU)
    empty = slicer_scene.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    with pytest.raises(InputError, match="no voxels"):
        segment_nodes(SegmentNodes(empty, segmentation, curve=curve), adapter_path, CPU)
    with pytest.raises(InputError, match="name"):
        segment_nodes(SegmentNodes(volume_node, segmentation, curve=curve, segment_name=" "), adapter_path, CPU)
    with pytest.raises(InputError, match="printable"):
        segment_nodes(SegmentNodes(volume_node, segmentation, curve=curve, segment_name="TI\nSegment0_Name:=x"),
                      adapter_path, CPU)
    saliency = slicer_scene.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "saliency")
    with pytest.raises(InputError, match="raw prior"):
        segment_nodes(SegmentNodes(volume_node, segmentation, curve=curve, saliency=saliency), "frozen",
                      InferenceOptions(device="cpu", prior="raw"))
    assert scene_snapshot(slicer_scene.scene, segmentation, volume_node)[1:] == before[1:]
    assert {node_id: slicer_scene.scene.GetNodeByID(node_id).GetMTime() for node_id in modified_times} == \
        modified_times
    assert saliency.GetImageData() is None


def test_rerun_with_other_settings_reuses_the_encoder_and_settings_do_not_stick(slicer_scene, mr_crop, adapter_path):
    from SPDSegmentLib import logic

    volume_node, curve, segmentation, _, _ = build_scene(slicer_scene, mr_crop, "plain")
    nodes = SegmentNodes(volume_node, segmentation, curve=curve, segment_name="TI")
    first = segment_nodes(nodes, adapter_path, CPU)
    config = logic._cache.predictor.config
    logic._cache.predictor.model.backbone.encode = lambda images: pytest.fail("encoder ran again")
    strict = segment_nodes(nodes, adapter_path, InferenceOptions(device="cpu", prior="learned", tau=0.99999))
    again = segment_nodes(nodes, adapter_path, CPU)
    assert strict.prompts_kept < first.prompts_kept
    assert (again.prompts_kept, again.slices_processed) == (first.prompts_kept, first.slices_processed)
    assert logic._cache.predictor.config is config and config.cpd.tau == 0.5


def test_undo_puts_the_segment_back_bit_exact_and_removes_a_segment_the_run_made(slicer_scene, mr_crop, adapter_path):
    from SPDSegmentLib.logic import show_in_3d, undo

    volume_node, curve, segmentation, other_id, other = build_scene(slicer_scene, mr_crop, "plain")
    before = np.zeros(other.shape, np.uint8)
    before[1:3, 30:50, 40:70] = 1  # a hand-drawn "TI" the run will overwrite
    ti_id = write_segment(segmentation, volume_node, before, "TI")
    nodes = SegmentNodes(volume_node, segmentation, curve=curve, segment_name="TI")
    result = segment_nodes(nodes, adapter_path, CPU)
    assert result.segment_id == ti_id and not np.array_equal(segment_array(segmentation, ti_id, volume_node), before)
    undo(segmentation, result)
    assert np.array_equal(segment_array(segmentation, ti_id, volume_node), before)
    assert np.array_equal(segment_array(segmentation, other_id, volume_node), other)

    fresh = segment_nodes(SegmentNodes(volume_node, segmentation, curve=curve, segment_name="new"), adapter_path, CPU)
    undo(segmentation, fresh)
    ids = [segmentation.GetSegmentation().GetNthSegmentID(i)
           for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
    assert fresh.segment_id not in ids and set(ids) == {other_id, ti_id}

    show_in_3d(segmentation)
    assert segmentation.GetSegmentation().ContainsRepresentation("Closed surface")
    assert segmentation.GetDisplayNode().GetVisibility3D()
