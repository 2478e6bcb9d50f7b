"""Known answers for the prompt geometry: the Prompts record, polyline resampling, slice bounds, thinning."""

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from SPDSegmentLib.errors import InputError
from SPDSegmentLib.inference.prompts import Prompts, curve_to_prompts, points_to_prompts, resample_polyline
from SPDSegmentLib.inference.volume import Volume

# Axis 2 on an identity volume with 1 mm voxels at the origin: LPS (x, y, z) is slice z, pixel (x, y), exactly.
HEIGHT, WIDTH, SLICES = 20, 30, 6


def identity_volume():
    return Volume(np.zeros((SLICES, HEIGHT, WIDTH), np.float32), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))


def test_prompts_refuse_unequal_lengths_and_take_many_points():
    with pytest.raises(ValueError, match="same length"):
        Prompts([0, 1, 2], np.zeros((4, 2)), np.ones(4, bool))
    with pytest.raises(ValueError, match="same length"):
        Prompts([0, 1, 2, 3], np.zeros((3, 2)), np.ones(3, bool))
    with pytest.raises(ValueError, match="same length"):
        Prompts([0, 1, 2], np.zeros((3, 2)), np.ones(2, bool))
    with pytest.raises(ValueError, match="same length"):
        Prompts([0, 1, 2], np.zeros((3, 2)), np.ones(4, bool))
    many = Prompts(np.zeros(300, int), np.zeros((300, 2)), np.ones(300, bool))  # lengths beyond the small-int cache
    assert len(many) == 300
    column = Prompts(np.array([[1], [2]]), [[1.0, 2.0], [3.0, 4.0]], [[True], [False]])
    assert column.slice_index.tolist() == [1, 2] and column.positive.tolist() == [True, False]


def test_a_straight_line_is_sampled_evenly_from_its_first_to_its_last_point():
    samples = resample_polyline(np.array([[0.0, 0, 0], [10.0, 0, 0]]), step=1.0)
    assert np.allclose(samples[:, 0], np.arange(11.0)) and np.allclose(samples[:, 1:], 0)
    samples = resample_polyline(np.array([[0.0, 0, 0], [10.0, 0, 0]]), step=3.0)  # 10 / 3 rounds up to 4 steps
    assert np.allclose(samples[:, 0], [0, 2.5, 5, 7.5, 10])
    samples = resample_polyline(np.array([[0.0, 0, 0], [2.0, 0, 0]]), step=3.0)  # shorter than a step: its ends
    assert np.allclose(samples[:, 0], [0, 2])


def test_a_polyline_is_resampled_along_its_polygon_by_default_and_its_corners_are_followed():
    corner = np.array([[0.0, 0, 0], [10.0, 0, 0], [10.0, 10, 0]])
    samples = resample_polyline(corner, step=1.0)
    assert len(samples) == 21
    on_a_leg = np.isclose(samples[:, 1], 0) | np.isclose(samples[:, 0], 10)
    assert on_a_leg.all()


def test_repeated_points_are_dropped_before_the_spline_and_two_equal_points_are_refused():
    arc = np.array([[0.0, 0, 0], [5.0, 3, 0], [10.0, 4, 0], [15.0, 3, 0]])
    doubled = np.repeat(arc, 2, axis=0)
    assert np.allclose(resample_polyline(doubled, 0.5, spline=True), resample_polyline(arc, 0.5, spline=True))
    assert np.allclose(resample_polyline(doubled, 0.5), resample_polyline(arc, 0.5))
    with pytest.raises(InputError, match="two distinct points"):
        resample_polyline(np.array([[1.0, 2, 3], [1.0, 2, 3]]), 1.0)


def expected_spline_samples(points, step):
    """Chord-length natural cubic spline, evaluated densely and cut every ``step`` mm of its arc length."""
    chord = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))]
    dense = CubicSpline(chord, points, bc_type="natural")(np.linspace(0, chord[-1], 200_000))
    arc = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))]
    cuts = np.linspace(0, arc[-1], int(np.ceil(arc[-1] / step)) + 1)
    return np.stack([np.interp(cuts, arc, dense[:, d]) for d in range(3)], axis=1)


@pytest.mark.parametrize("n_points", [3, 5])
def test_the_spline_goes_through_every_control_point_from_end_to_end(n_points):
    angles = np.linspace(0, np.pi, n_points)
    points = np.stack([20 * np.cos(angles), 20 * np.sin(angles), np.zeros(n_points)], axis=1)
    step = 7.0  # a half circle of 62.8 mm: 10 samples
    samples = resample_polyline(points, step, spline=True)
    expected = expected_spline_samples(points, step)
    assert samples.shape == expected.shape == (10, 3)
    assert np.allclose(samples[0], points[0]) and np.allclose(samples[-1], points[-1])
    assert np.abs(samples - expected).max() < 0.005
    polygon = resample_polyline(points, step)
    assert np.abs(polygon - samples).max() > 0.1  # the spline bulges out of the polygon between its points


def test_points_on_the_half_pixel_edges_of_a_slice_are_kept_and_points_beyond_are_dropped():
    volume = identity_volume()
    inside = np.array([[-0.5, -0.5, 0], [WIDTH - 0.5, HEIGHT - 0.5, SLICES - 1], [-0.5, HEIGHT - 0.5, 2],
                       [WIDTH - 0.5, -0.5, 3], [4.0, 5.0, 1.4]])
    beyond = np.array([[-1.0, 5, 2], [WIDTH - 0.2, 5, 2], [5, -1.0, 2], [5, HEIGHT - 0.2, 2], [5, HEIGHT + 0.3, 2],
                       [WIDTH + 0.3, 5, 2], [-0.6, 5, 0], [5, -0.6, 0], [5, 5, -0.6], [5, 5, SLICES - 0.4],
                       [-5.0, 5, 0], [5, -5.0, 0], [5, 40.0, 0], [50.0, 5, 0], [-5.0, -5, 9], [5, 5, SLICES + 2]])
    prompts = points_to_prompts(np.concatenate([inside, beyond]), volume, 2)
    assert np.allclose(prompts.xy, inside[:, :2])
    assert prompts.slice_index.tolist() == [0, SLICES - 1, 2, 3, 1]
    for point in beyond:
        with pytest.raises(InputError, match="None of the 1 positive points lies inside the volume"):
            points_to_prompts(point[None], volume, 2)
    with pytest.raises(InputError, match="None of the 2 negative points lies inside the volume"):
        points_to_prompts(beyond[:2], volume, 2, positive=False)


def test_no_points_give_no_prompts():
    prompts = points_to_prompts(np.zeros((0, 3)), identity_volume(), 2, positive=False)
    assert len(prompts) == 0


def test_a_slice_keeps_at_most_the_asked_number_of_distinct_pixels_spread_from_end_to_end():
    # 1.5 mm pixels (finer ones count 1.5 mm cells: the next test); LPS is 1.5 times slice z, pixel (x, y)
    volume = Volume(np.zeros((SLICES, HEIGHT, WIDTH), np.float32), (1.5, 1.5, 1.5), (0.0, 0.0, 0.0), np.eye(3))
    across_slice_two = 1.5 * np.array([[2.0, 10, 2], [25.0, 10, 2]])  # in the plane of slice 2: 24 distinct pixels
    prompts = curve_to_prompts(across_slice_two, volume, 2, spline=False, step_mm=1.5)
    assert prompts.slice_index.tolist() == [2] * 8
    assert np.allclose(prompts.xy[:, 1], 10)
    assert prompts.xy[0, 0] == 2 and prompts.xy[-1, 0] == 25
    assert np.all(np.diff(prompts.xy[:, 0]) > 0)
    three = curve_to_prompts(across_slice_two, volume, 2, spline=False, step_mm=1.5, max_points_per_slice=3)
    assert three.xy[:, 0].tolist() == [2.0, 14.0, 25.0]
    short = curve_to_prompts(1.5 * np.array([[2.0, 10, 2], [4.0, 10, 2]]), volume, 2, spline=False, step_mm=1.5)
    assert short.xy[:, 0].tolist() == [2.0, 3.0, 4.0]  # fewer than the limit: each distinct pixel once


def test_on_pixels_finer_than_one_and_a_half_mm_a_curve_gives_as_many_prompts_as_on_one_and_a_half_mm_ones():
    """The same curve over the same field on 1.5, 0.5 and 3 mm pixels: a slice's prompts are its samples in distinct
    1.5 mm cells (in distinct pixels where pixels are that size or coarser), so a 512 x 512 scan is not prompted
    three times as densely as a 1.5 mm one and the checks that count pixels see what they were chosen on."""
    from SPDSegmentLib.inference.slices import pixels_per_cell

    assert pixels_per_cell((1.5, 1.5)) == pixels_per_cell((3.0, 1.5)) == pixels_per_cell((3.0, 3.0)) == 1.0
    assert pixels_per_cell((0.5, 0.75)) == pytest.approx(3.0)
    field_mm, slices = 48.0, 6
    along = np.array([[6.0, 20.0, 4.5], [15.0, 26.0, 7.5]])  # 10.8 mm in plane over slices 3-5 (1.5 mm apart)
    counts = {}
    for pixel in (1.5, 0.5, 3.0):
        side = int(field_mm / pixel)
        volume = Volume(np.zeros((slices, side, side), np.float32), (pixel, pixel, 1.5),
                        (pixel / 2 - 0.75, pixel / 2 - 0.75, 0.0), np.eye(3))
        prompts = curve_to_prompts(along, volume, 2, spline=False)
        counts[pixel] = np.bincount(prompts.slice_index, minlength=slices)
    assert np.abs(counts[0.5] - counts[1.5]).max() <= 1 and counts[1.5].max() < 8
    assert counts[3.0].sum() < counts[1.5].sum()  # coarser pixels keep counting pixels


def test_the_curve_is_sampled_every_quarter_of_the_finest_spacing_by_default():
    volume = Volume(np.zeros((12, HEIGHT, WIDTH), np.float32), (0.7, 0.9, 3.0), (0.0, 0.0, 0.0), np.eye(3))
    angle = np.linspace(0, 3 * np.pi, 9)
    curve = np.stack([6 + 4 * np.cos(angle), 8 + 5 * np.sin(angle), np.linspace(1, 32, 9)], axis=1)
    default = curve_to_prompts(curve, volume, axis=2)
    quarter = curve_to_prompts(curve, volume, axis=2, step_mm=0.7 / 4)
    assert np.array_equal(default.slice_index, quarter.slice_index) and np.array_equal(default.xy, quarter.xy)
    coarse = curve_to_prompts(curve, volume, axis=2, step_mm=0.7)  # a full spacing misses pixels the curve crosses
    assert len(coarse) < len(default)


def test_each_slice_keeps_only_the_points_where_the_curve_crosses_it():
    diagonal = np.array([[2.0, 3, 0], [7.0, 3, 5]])  # one pixel to the right per slice
    prompts = curve_to_prompts(diagonal, identity_volume(), 2)
    assert prompts.slice_index.tolist() == sorted(prompts.slice_index.tolist())
    assert set(prompts.slice_index.tolist()) == set(range(SLICES))
    assert np.all(np.abs(prompts.xy[:, 0] - (2 + prompts.slice_index)) <= 0.5) and np.allclose(prompts.xy[:, 1], 3)


def test_a_curve_becomes_prompts_along_its_spline_by_default():
    arc = np.array([[2.0, 2, 2], [12.0, 16, 2], [24.0, 4, 2]])  # three control points in the plane of slice 2
    default = curve_to_prompts(arc, identity_volume(), 2, max_points_per_slice=100)
    spline = curve_to_prompts(arc, identity_volume(), 2, spline=True, max_points_per_slice=100)
    polygon = curve_to_prompts(arc, identity_volume(), 2, spline=False, max_points_per_slice=100)
    assert np.array_equal(default.xy, spline.xy)
    assert len(polygon) != len(spline) or not np.array_equal(polygon.xy, spline.xy)


def test_a_slice_gives_its_positive_or_its_negative_points_apart():
    prompts = Prompts([1, 1, 1, 2], [[1.0, 1], [2, 2], [3, 3], [4, 4]], [True, False, True, False])
    assert prompts.on_slice(1).tolist() == [[1, 1], [2, 2], [3, 3]]
    assert prompts.on_slice(1, positive=True).tolist() == [[1, 1], [3, 3]]
    assert prompts.on_slice(1, positive=False).tolist() == [[2, 2]]
    assert prompts.on_slice(2, positive=True).tolist() == []


def test_each_point_remembers_the_curve_it_was_sampled_from_and_clicks_none():
    first = np.array([[2.0, 3, 0], [2.0, 3, 5]])  # crosses slices 0 to 5 at (2, 3)
    second = np.array([[20.0, 5, 3], [20.0, 5, 5]])  # crosses slices 3 to 5 at (20, 5)
    prompts = curve_to_prompts([first, second], identity_volume(), 2)
    assert set(prompts.curve[prompts.xy[:, 0] < 10].tolist()) == {0}
    assert set(prompts.curve[prompts.xy[:, 0] > 10].tolist()) == {1}
    assert sorted(prompts.slice_index[prompts.curve == 1].tolist()) == [3, 4, 5]
    clicks = points_to_prompts(np.array([[7.0, 7, 3]]), identity_volume(), 2)
    assert clicks.curve.tolist() == [-1]
    both = prompts + clicks
    assert both.curve.tolist() == prompts.curve.tolist() + [-1]
    assert both.select(both.slice_index == 5).curve.tolist() == [0, 1]
    with pytest.raises(ValueError, match="same length"):
        Prompts([1, 2], [[1.0, 1], [2, 2]], [True, True], [0])
