"""Curve-to-slice geometry on oblique and flipped volumes; RAS/LPS <-> IJK; the model frame."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import oblique_direction
from SPDSegmentLib.errors import InputError
from SPDSegmentLib.inference.markup_files import read_curve, read_markups, write_markups
from SPDSegmentLib.inference.prompts import curve_to_prompts, points_to_prompts
from SPDSegmentLib.inference.slices import (IntensityScaling, ModelFrame, from_stack, normalise_intensity,
                                            slice_points_to_ijk, to_stack)
from SPDSegmentLib.inference.volume import Volume


def make_volume(direction, spacing=(0.8, 1.1, 3.0), shape_kji=(12, 30, 40), origin=(10.0, -20.0, 5.0)):
    return Volume(np.zeros(shape_kji, np.float32), spacing, origin, direction)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), points=st.lists(st.tuples(*[st.floats(-5, 50)] * 3), min_size=1, max_size=8))
def test_lps_ijk_round_trip_on_any_direction_matrix(seed, points):
    volume = make_volume(oblique_direction(seed, flip=seed % 2 == 0))
    ijk = np.array(points)
    assert np.allclose(volume.lps_to_ijk(volume.ijk_to_lps_points(ijk)), ijk, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), axis=st.sampled_from([0, 1, 2]), t=st.integers(0, 9),
       x=st.floats(0, 9), y=st.floats(0, 9))
def test_each_point_goes_to_the_slice_it_lies_on(seed, axis, t, x, y):
    volume = make_volume(oblique_direction(seed, flip=bool(seed % 2)), shape_kji=(12, 14, 16))
    lps = volume.ijk_to_lps_points(slice_points_to_ijk(np.array([t + 0.3]), np.array([[x, y]]), axis))
    prompts = points_to_prompts(lps, volume, axis)
    assert prompts.slice_index.tolist() == [t]
    assert np.allclose(prompts.xy, [[x, y]])


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_straight_curve_through_slices_hits_every_slice_at_the_right_pixel(flip, axis):
    volume = make_volume(oblique_direction(7, flip), shape_kji=(10, 12, 14))
    n_slices = np.moveaxis(volume.array_kji, 2 - axis, 0).shape[0]
    start, end = slice_points_to_ijk(np.array([0.0, n_slices - 1.0]), np.array([[3.0, 4.0], [3.0, 4.0]]), axis)
    prompts = curve_to_prompts(volume.ijk_to_lps_points(np.stack([start, end])), volume, axis, spline=False)
    assert prompts.slices.tolist() == list(range(n_slices))
    assert np.allclose(prompts.xy, [3.0, 4.0], atol=1e-6)


def test_curve_file_in_ras_and_lps_give_the_same_prompts(tmp_path):
    volume = make_volume(oblique_direction(3, True))
    ijk = np.array([[5, 5, 0.0], [20, 12, 6], [30, 20, 11]])
    lps = volume.ijk_to_lps_points(ijk)
    write_markups(tmp_path / "lps.mrk.json", "Curve", lps)
    ras_doc = json.loads((tmp_path / "lps.mrk.json").read_text(encoding="utf-8"))
    ras_doc["markups"][0]["coordinateSystem"] = "RAS"
    for point in ras_doc["markups"][0]["controlPoints"]:
        point["position"] = [-point["position"][0], -point["position"][1], point["position"][2]]
    (tmp_path / "ras.mrk.json").write_text(json.dumps(ras_doc), encoding="utf-8")
    a = curve_to_prompts(read_curve(tmp_path / "lps.mrk.json"), volume, 2)
    b = curve_to_prompts(read_curve(tmp_path / "ras.mrk.json"), volume, 2)
    assert np.allclose(a.xy, b.xy) and np.array_equal(a.slice_index, b.slice_index)
    assert read_markups(tmp_path / "ras.mrk.json")[0].kind == "Curve"


def test_curve_with_one_point_or_outside_the_volume_is_refused():
    volume = make_volume(np.eye(3))
    with pytest.raises(InputError, match="at least two"):
        curve_to_prompts(np.array([[1.0, 2.0, 3.0]]), volume, 2)
    with pytest.raises(InputError, match="outside the volume"):
        curve_to_prompts(np.array([[1000.0, 0, 0], [1100.0, 0, 0]]), volume, 2)


def test_slicing_axis_auto_picks_the_thick_axis_and_named_axes_follow_direction():
    volume = make_volume(np.eye(3), spacing=(1.0, 3.0, 1.0))
    assert volume.slicing_axis("auto") == 1
    permuted = make_volume(np.array([[0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]]))
    assert permuted.slicing_axis("axial") == 1 and permuted.slicing_axis("sagittal") == 2


def test_spacing_along_the_array_axes_runs_k_j_i():
    volume = make_volume(np.eye(3), spacing=(0.7, 1.5, 3.0))
    assert volume.spacing_kji == (3.0, 1.5, 0.7)


def test_stack_round_trip_and_orientation():
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    for axis in (0, 1, 2):
        assert np.array_equal(from_stack(to_stack(array, axis), axis), array)
    assert to_stack(array, 2)[1, 2, 3] == array[1, 2, 3]  # slice k, row j, column i
    assert to_stack(array, 0)[3, 1, 2] == array[1, 2, 3]  # slice i, row k, column j


@pytest.mark.parametrize("shape,spacing", [((30, 50), (1.0, 1.0)), ((40, 20), (0.7, 2.0))])
def test_model_frame_maps_points_where_the_image_put_them(shape, spacing):
    height, width = shape
    frame = ModelFrame(height, width, 64, spacing)
    image = torch.zeros(1, height, width)
    image[0, 25 % height, 13] = 1.0
    model_image = frame.images_to_model(image)[0, 0]
    y, x = np.unravel_index(int(torch.argmax(model_image)), model_image.shape)
    px, py = frame.points_to_model(np.array([13.0, 25 % height]))
    assert abs(px - x) <= 1.0 and abs(py - y) <= 1.0
    back = frame.maps_to_slice(frame.masks_to_model(torch.ones(1, height, width), 64))
    assert back.shape == (1, 1, height, width) and float(back.min()) > 0.5


def transposed(array):
    return array.transpose(-1, -2)


def unchanged(array):
    return array


@pytest.mark.parametrize("tall", [False, True])
def test_model_frame_resizes_masks_into_and_maps_out_of_the_unpadded_part_only(tall):
    # square pixels by default: a 2:1 slice fills the top half of the model input, a 1:2 one the left half
    turn = transposed if tall else unchanged
    frame = ModelFrame(64, 32, 64) if tall else ModelFrame(32, 64, 64)
    assert frame.scaled_hw == ((64, 32) if tall else (32, 64))
    half = torch.zeros(1, 32, 64)
    half[..., :32] = 1.0
    expected = torch.zeros(16, 16)
    expected[:8, :8] = 1.0
    assert torch.equal(frame.masks_to_model(turn(half), 16)[0, 0], turn(expected))
    maps = torch.zeros(1, 1, 16, 16)
    maps[..., :4, :8] = 1.0  # a quarter of the slice's part
    maps[..., 8:, :] = 5.0  # the padding, which must never reach the slice
    back = turn(frame.maps_to_slice(turn(maps))[0, 0])
    assert back.shape == (32, 64) and float(back.max()) == 1.0
    assert (back[4, 10], back[28, 10], back[4, 50]) == (1.0, 0.0, 0.0)


@pytest.mark.parametrize("tall", [False, True])
def test_model_frame_keeps_one_row_of_a_slice_thinner_than_a_map_pixel(tall):
    # 2 rows (or columns) scale to half a pixel of a 16-pixel map
    turn = transposed if tall else unchanged
    frame = ModelFrame(64, 2, 64) if tall else ModelFrame(2, 64, 64)
    model_mask = turn(frame.masks_to_model(turn(torch.ones(1, 2, 64)), 16))[0, 0]
    assert torch.equal(model_mask[:, 0], torch.eye(16)[0])
    maps = torch.full((1, 1, 16, 16), 5.0)
    maps[..., 0, :] = 1.0
    assert torch.equal(turn(frame.maps_to_slice(turn(maps))), torch.ones(1, 1, 2, 64))


@pytest.mark.parametrize("shrink_columns", [False, True])
def test_model_frame_smooths_before_shrinking_so_a_thin_line_survives(shrink_columns):
    # 4x fewer rows (or columns), 2x more of the other (anisotropic pixels): without antialiasing the sampling
    # skips the first row (or column)
    frame = ModelFrame(32, 256, 64, (1.0, 8.0)) if shrink_columns else ModelFrame(256, 32, 64, (8.0, 1.0))
    assert frame.scaled_hw == (64, 64)
    line = torch.zeros(1, frame.height, frame.width)
    if shrink_columns:
        line[0, :, 0] = 1.0
    else:
        line[0, 0, :] = 1.0
    model_image = frame.images_to_model(line)[0, 0]
    assert float((model_image[:, 0] if shrink_columns else model_image[0]).min()) > 0.1


@pytest.mark.parametrize("shape,scaled", [((32, 64), (32, 64)), ((64, 32), (64, 32)), ((1, 256), (1, 64)),
                                          ((256, 1), (64, 1))])
def test_model_frame_pads_every_image_of_a_batch_to_the_square_input_in_three_channels(shape, scaled):
    frame = ModelFrame(*shape, 64)
    assert frame.scaled_hw == scaled
    model_images = frame.images_to_model(torch.ones(2, *shape))
    expected = torch.zeros(2, 3, 64, 64)
    expected[..., :scaled[0], :scaled[1]] = 1.0
    assert torch.allclose(model_images, expected)


def test_model_frame_enlarges_by_pixel_centres():
    # two pixels, 0 and 1, become four whose centres sit at -0.25, 0.25, 0.75 and 1.25 of the old ones
    frame = ModelFrame(1, 2, 4)
    assert frame.scaled_hw == (2, 4)
    row = frame.images_to_model(torch.tensor([[[0.0, 1.0]]]))[0, 0, 0]
    assert torch.allclose(row, torch.tensor([0.0, 0.25, 0.75, 1.0]))


@pytest.mark.parametrize("tall", [False, True])
def test_model_frame_counts_a_half_map_pixel_of_the_slice_in(tall):
    # the slice fills 38 of the 64 input pixels: 9.5 pixels of a 16-pixel map, rounded to 10
    turn = transposed if tall else unchanged
    frame = ModelFrame(50, 30, 64) if tall else ModelFrame(30, 50, 64)
    assert frame.scaled_hw == ((64, 38) if tall else (38, 64))
    model_mask = turn(frame.masks_to_model(turn(torch.ones(1, 30, 50)), 16))[0, 0]
    assert float(model_mask[:10].min()) == 1.0 and float(model_mask[10:].max()) == 0.0
    maps = torch.zeros(1, 1, 16, 16)
    maps[..., 9, :] = 1.0  # the half-covered map row, the slice's last
    assert float(frame.maps_to_slice(turn(maps)).max()) > 0.5


def test_model_frame_maps_back_by_pixel_centres():
    frame = ModelFrame(4, 4, 2)  # the 4 x 4 slice fills the whole 2 x 2 input
    back = frame.maps_to_slice(torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]]))[0, 0]
    assert torch.allclose(back, torch.tensor([0.0, 0.25, 0.75, 1.0]).expand(4, 4))


def test_intensities_scale_between_the_half_and_the_99_and_a_half_percentiles():
    values = np.arange(1000, dtype=np.float32)
    low, high = 4.995, 994.005  # numpy's percentiles 0.5 and 99.5 of 0..999
    scaled = normalise_intensity(values)
    assert scaled.dtype == np.float32
    assert (scaled[4], scaled[999]) == (0.0, 1.0) and 0.0 < scaled[5] and scaled[994] < 1.0
    np.testing.assert_allclose(scaled[500], (500 - low) / (high - low), rtol=1e-5)
    for constant in (0.0, 0.5, 7.0):  # a blank volume scales to zeros, never to NaN
        assert np.array_equal(normalise_intensity(np.full((3, 4), constant)), np.zeros((3, 4), np.float32))


def test_a_ct_window_shows_hounsfield_ct_through_it_and_leaves_other_images_to_their_percentiles():
    rng = np.random.default_rng(0)
    ct = np.full((4, 50, 50), -1000.0)  # air around a body of fat, soft tissue and a contrast-filled vessel
    ct[:, 5:45, 5:45] = -100.0
    ct[:, 10:40, 10:40] = 40.0
    ct[:, 20:25, 20:25] = 300.0
    ct += rng.normal(0, 1, ct.shape)
    soft_tissue = IntensityScaling(ct_window=(40.0, 400.0))
    shown = soft_tissue.scale(ct)
    assert shown.dtype == np.float32
    assert np.allclose([shown[0, 0, 0], shown[0, 7, 7], shown[0, 15, 15], shown[0, 22, 22]], [0.0, 0.15, 0.5, 1.0],
                       atol=0.01)
    # without a window CT takes its percentiles, as before; so does anything without air below -500 HU
    assert np.array_equal(IntensityScaling().scale(ct), normalise_intensity(ct))
    mr = np.clip(ct + 1000.0, 0, None) / 3  # the same anatomy in positive arbitrary units
    assert np.array_equal(soft_tissue.scale(mr), normalise_intensity(mr))
    body = ct[:, 10:40, 10:40]  # a crop inside the body: no air, so not taken for CT
    assert np.array_equal(soft_tissue.scale(body), normalise_intensity(body))


def test_a_model_frame_cannot_be_changed_once_made():
    frame = ModelFrame(32, 64, 64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.size = 128
