"""Known answers worked out by hand, not through the code under test: where a point lands, which pixel size
goes with which axis, parent transforms on the volume or the curve, HD95 through the CLI with anisotropic
voxels, PSC on three slices, CPD borrowing at both ends, and CPD in the predictor on a hand-made saliency."""

import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from SPDSegmentLib.bridge.volumes import numpy_to_matrix
from SPDSegmentLib.cli import main
from SPDSegmentLib.inference.cpd import (JOINED, KEPT_LOCAL, KEPT_NEIGHBOUR, LEFT_OUT, REJECTED, CpdConfig,
                                         distil_prompts)
from SPDSegmentLib.inference.prompts import Prompts, points_to_prompts
from SPDSegmentLib.inference.slices import ModelFrame, in_plane_spacing
from SPDSegmentLib.inference.volume import Volume
from SPDSegmentLib.training.losses import psc_loss


def axis_aligned(spacing=(0.5, 2.0, 3.0), shape_kji=(10, 20, 30), origin=(0.0, 0.0, 0.0)):
    return Volume(np.zeros(shape_kji, np.float32), spacing, origin, np.eye(3))


@pytest.mark.parametrize("offset,expected", [(0.7, 5), (-0.7, 3), (0.4, 4), (-0.4, 4)])
def test_a_point_goes_to_the_nearest_slice(offset, expected):
    volume = axis_aligned()
    # slice 4 along K lies at z = 4 * 3 mm; the point sits offset slices away from it, at i = 6, j = 7
    lps = np.array([[6 * 0.5, 7 * 2.0, (4 + offset) * 3.0]])
    prompts = points_to_prompts(lps, volume, axis=2)
    assert prompts.slice_index.tolist() == [expected] and np.allclose(prompts.xy, [[6.0, 7.0]])


def test_in_plane_pixel_sizes_follow_the_axes_shown():
    volume = axis_aligned(spacing=(0.5, 2.0, 3.0))
    assert in_plane_spacing(volume, 2) == (0.5, 2.0)   # x = i, y = j
    assert in_plane_spacing(volume, 1) == (0.5, 3.0)   # x = i, y = k
    assert in_plane_spacing(volume, 0) == (2.0, 3.0)   # x = j, y = k
    # 100 columns of 0.5 mm = 50 mm wide, 40 rows of 2 mm = 80 mm tall: the taller side fills 256
    assert ModelFrame(40, 100, 256, (0.5, 2.0)).scaled_hw == (256, 160)


@pytest.mark.parametrize("moved,expected_i", [("volume", 26.0), ("curve", 6.0), ("both", 16.0)])
def test_parent_transforms_on_the_volume_the_curve_or_both(moved, expected_i, slicer_scene):
    """Voxel (i, j, k) of the volume sits at RAS (-i, -j, 3k); the curve's points are stored at R = -16, A = -7;
    a parent transform shifts a node by +10 mm in R. Worked out by hand: only the volume moved, -i + 10 = -16
    gives i = 26; only the curve moved, -i = -6 gives i = 6; both moved, -i + 10 = -6 gives i = 16."""
    from SPDSegmentLib.logic import SegmentNodes, prepare_job

    volume = Volume(np.zeros((8, 20, 30), np.float32), (1.0, 1.0, 3.0), (0.0, 0.0, 0.0), np.eye(3))
    volume_node = slicer_scene.add_volume(volume, "volume")
    curve = slicer_scene.add_curve(np.array([[16.0, 7.0, 3.0], [16.0, 7.0, 18.0]]), "curve")  # LPS: R -16, A -7
    shift = np.eye(4)
    shift[0, 3] = 10.0
    transform = slicer_scene.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    transform.SetMatrixTransformToParent(numpy_to_matrix(shift))
    if moved in ("volume", "both"):
        volume_node.SetAndObserveTransformNodeID(transform.GetID())
    if moved in ("curve", "both"):
        curve.SetAndObserveTransformNodeID(transform.GetID())
    segmentation = slicer_scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "out")
    job = prepare_job(SegmentNodes(volume_node, segmentation, curve=curve), "frozen")
    assert job.axis == 2 and job.prompts.slices.tolist() == [1, 2, 3, 4, 5, 6]
    assert np.allclose(job.prompts.xy[:, 0], expected_i) and np.allclose(job.prompts.xy[:, 1], 7.0)


def surface_voxels(mask):
    inner = mask.copy()
    inner[1:-1, 1:-1, 1:-1] = (mask[1:-1, 1:-1, 1:-1] & mask[:-2, 1:-1, 1:-1] & mask[2:, 1:-1, 1:-1]
                               & mask[1:-1, :-2, 1:-1] & mask[1:-1, 2:, 1:-1] & mask[1:-1, 1:-1, :-2]
                               & mask[1:-1, 1:-1, 2:])
    inner[[0, -1]], inner[:, [0, -1]], inner[:, :, [0, -1]] = False, False, False
    return np.argwhere(mask & ~inner)


def test_metrics_command_hd95_and_assd_with_anisotropic_voxels(tmp_path, capsys):
    """A box and the same box shifted by one voxel along K, on (i, j, k) spacing (1, 2, 5) mm; the distances
    are worked out from the surface voxels in mm, pair by pair."""
    spacing_kji = np.array([5.0, 2.0, 1.0])
    reference = np.zeros((8, 10, 12), bool)
    reference[2:5, 3:7, 4:9] = True
    prediction = np.roll(reference, 1, axis=0)
    paths = []
    for name, mask in (("pred", prediction), ("ref", reference)):
        image = sitk.GetImageFromArray(mask.astype(np.uint8))
        image.SetSpacing((1.0, 2.0, 5.0))
        sitk.WriteImage(image, str(tmp_path / f"{name}.nii.gz"))
        paths.append(str(tmp_path / f"{name}.nii.gz"))
    surface_p, surface_r = surface_voxels(prediction) * spacing_kji, surface_voxels(reference) * spacing_kji
    pairwise = np.linalg.norm(surface_p[:, None] - surface_r[None], axis=-1)
    forward, backward = pairwise.min(1), pairwise.min(0)
    assert main(["metrics", *paths, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["volume"]
    assert result["hd95_mm"] == pytest.approx(max(np.percentile(forward, 95), np.percentile(backward, 95)))
    assert result["assd_mm"] == pytest.approx(np.concatenate([forward, backward]).mean())
    assert result["dsc"] == pytest.approx(2 * 2 * 4 * 5 / (2 * 3 * 4 * 5))


def test_psc_on_three_slices_is_the_mean_of_its_two_pairs():
    probs = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 1.0]]).reshape(3, 1, 2, 2)
    # pair (0, 1): 1 - 2 * 1.5 / (2 + 2) = 0.25; pair (1, 2): 1 - 2 * 0.5 / (2 + 2) = 0.75
    assert float(psc_loss(probs, "next")) == pytest.approx(0.5)
    assert float(psc_loss(probs, "previous")) == pytest.approx(0.5)
    assert float(psc_loss(probs[:2], "next")) == pytest.approx(0.25)


@pytest.mark.parametrize("slice_with_prompt,expected", [(0, [1, 2]), (9, [7, 8]), (5, [3, 4, 6, 7])])
def test_cpd_borrows_onto_n_slices_on_each_side_and_stops_at_the_volume_ends(slice_with_prompt, expected):
    saliency = np.full((10, 12, 12), 0.9, np.float32)
    prompts = Prompts(np.array([slice_with_prompt]), np.array([[5.0, 5.0]]), np.array([True]))
    result = distil_prompts(prompts, saliency, CpdConfig(tau=0.5, neighbours=2))
    borrowed = result.audit.status == KEPT_NEIGHBOUR
    assert sorted(result.audit.slice_index[borrowed].tolist()) == expected
    assert result.slices.tolist() == sorted(expected + [slice_with_prompt])


def test_cpd_in_the_predictor_on_a_hand_made_saliency_keeps_and_rejects_the_known_points(litemedsam, mr_crop):
    from test_predictor_model import spd_model

    from SPDSegmentLib.inference.io import read_volume
    from SPDSegmentLib.inference.options import InferenceOptions
    from SPDSegmentLib.inference.predictor import SpdPredictor

    volume = read_volume(mr_crop[0])
    predictor = SpdPredictor(spd_model(litemedsam, 0.0), InferenceOptions(device="cpu", prior="learned"))
    predictor.set_volume(volume, 2)
    predictor.encode(np.arange(4))
    hand_made = np.zeros_like(predictor._saliency)
    hand_made[:, 40:60, 60:90] = 0.8     # the prior says: the target is in rows 40-59, columns 60-89
    hand_made[3] = 0.0                   # and not on slice 3
    predictor._saliency[:] = hand_made
    prompts = Prompts(np.array([1, 1, 2, 3]), np.array([[70.0, 50.0], [10.0, 10.0], [80.0, 45.0], [70.0, 50.0]]),
                      np.ones(4, bool))
    result = predictor.predict(prompts, InferenceOptions(device="cpu", prior="learned", neighbours=1))
    audit = result.consensus.audit
    # the prior's verdicts, as the segment settled them (this model's random decoder need not reach a kept point)
    verdict = {KEPT_LOCAL: "kept", KEPT_NEIGHBOUR: "kept", LEFT_OUT: "kept", REJECTED: "rejected", JOINED: "rejected"}
    rows = {(int(t), tuple(xy), int(j), verdict[s]) for t, xy, j, s in zip(audit.slice_index, audit.xy.tolist(),
                                                                         audit.source_slice, audit.status)}
    assert (1, (70.0, 50.0), 1, "kept") in rows and (1, (10.0, 10.0), 1, "rejected") in rows
    assert (2, (80.0, 45.0), 2, "kept") in rows and (3, (70.0, 50.0), 3, "rejected") in rows
    # borrowed onto slice 0 and 2 (n = 1) where the map agrees; never onto slice 3, where it says no
    borrowed = {(t, xy) for t, xy, j, kept in rows if j != t}
    assert borrowed == {(0, (70.0, 50.0)), (2, (70.0, 50.0)), (1, (80.0, 45.0))} and len(rows) == 7
    assert set(audit.status[audit.source_slice != audit.slice_index]) <= {KEPT_NEIGHBOUR, LEFT_OUT}
    assert result.prior.route == "learned"
