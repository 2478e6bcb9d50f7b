"""Volumes on real bowel shapes (training/anatomy.py): the terminal ileum cut from the midline, the model folder
read in its own frame, and the rendered case (label, neighbours, coronal slices, intensities)."""

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from SPDSegmentLib.training.anatomy import BowelShape, bowel_stretch, read_bowel_shape, render_case, traced_midline


def u_shaped_bowel() -> BowelShape:
    """A 6 mm-radius tube on a 1 mm grid: 80 mm along x at y = 20, back along x at y = 60 (a U, joined at x = 90),
    its midline starting at the valve end (x = 10, y = 20), and a colon block beside it."""
    shape = (40, 80, 110)  # z, y, x
    z, y, x = np.indices(shape)
    path = np.concatenate([np.c_[np.arange(10, 91), np.full(81, 20), np.full(81, 20)],
                           np.c_[np.full(39, 90), np.arange(21, 60), np.full(39, 20)],
                           np.c_[np.arange(90, 9, -1), np.full(81, 60), np.full(81, 20)]]).astype(float)
    tube = np.zeros(shape, bool)
    for px, py, pz in path[::2]:
        tube |= (x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2 <= 36
    colon = (x > 100) & (np.abs(y - 40) < 12) & (np.abs(z - 20) < 10)
    origin = np.array([5.0, -3.0, 11.0])
    return BowelShape("u", tube, origin, path + origin, colon, origin.copy())


def test_terminal_ileum_is_the_bowel_nearest_the_first_stretch_of_the_midline():
    shape = u_shaped_bowel()
    label = bowel_stretch(shape.small_bowel, shape.small_bowel_origin, shape.path_mm, 0.0, 40.0)
    assert label.any() and not (label & ~shape.small_bowel).any()
    zyx = np.argwhere(label)
    assert zyx[:, 2].max() <= 10 + 40 + 1  # x: within 40 mm of the valve along the first limb
    assert zyx[:, 1].max() < 40  # none on the returning limb, 40 mm away across the U
    assert label.sum() < 0.35 * shape.small_bowel.sum()
    further = bowel_stretch(shape.small_bowel, shape.small_bowel_origin, shape.path_mm, 130.0, 170.0)
    assert further.any() and not (further & label).any()
    assert np.argwhere(further)[:, 1].min() > 40 and np.argwhere(further)[:, 2].max() < 95  # on the returning limb


def test_render_case_labels_the_terminal_ileum_on_coronal_slices_and_paints_it_bright():
    shape = u_shaped_bowel()
    case = render_case(shape, seed=3, length_mm=40.0, margin_mm=20.0)
    volume, label = case.volume, case.label_kji
    assert np.allclose(volume.spacing, (1.5, 3.0, 1.5))
    assert volume.slicing_axis("auto") == 1  # thick along y: coronal slices
    assert label.any() and not (label & case.neighbours_kji).any()
    assert case.neighbours_kji.any()  # the returning limb and the colon
    background = ~ndimage.binary_dilation(label | case.neighbours_kji, iterations=3)
    assert np.median(volume.array_kji[label]) > 1.8 * np.median(volume.array_kji[background])
    # the crop: the terminal ileum (about 52 x 12 x 12 mm) and 20 mm around it
    extent = np.array(volume.array_kji.shape) * np.array(volume.spacing_kji)
    assert np.all(extent > [45, 45, 85]) and np.all(extent < [70, 70, 110])
    again = render_case(shape, seed=3, length_mm=40.0, margin_mm=20.0)
    assert np.array_equal(again.volume.array_kji, volume.array_kji)
    other = render_case(shape, seed=4, length_mm=40.0, margin_mm=20.0)
    assert np.array_equal(other.label_kji, label) and not np.array_equal(other.volume.array_kji, volume.array_kji)


def write_mask(path, mask, origin):
    image = sitk.GetImageFromArray(mask.astype(np.uint8))
    image.SetOrigin(tuple(float(v) for v in origin))
    sitk.WriteImage(image, str(path))


def test_read_bowel_shape_takes_the_most_complete_small_bowel_and_its_frame(tmp_path):
    shape = u_shaped_bowel()
    write_mask(tmp_path / "small_intestine_mask_1mm.nii.gz", shape.small_bowel, shape.small_bowel_origin)
    np.savetxt(tmp_path / "small_intestine_path_mm.csv", shape.path_mm, delimiter=",", header="x_mm,y_mm,z_mm")
    write_mask(tmp_path / "terminal_ileum_mask_1mm.nii.gz", shape.small_bowel[:, :30], shape.small_bowel_origin)
    write_mask(tmp_path / "large_intestine_mask_1mm.nii.gz", shape.colon, shape.colon_origin)
    read = read_bowel_shape(tmp_path)
    assert np.array_equal(read.small_bowel, shape.small_bowel)
    assert np.allclose(read.small_bowel_origin, shape.small_bowel_origin)
    assert np.allclose(read.path_mm, shape.path_mm) and np.array_equal(read.colon, shape.colon)


def test_read_bowel_shape_names_the_files_it_needs(tmp_path):
    with pytest.raises(FileNotFoundError, match="small_intestine.*_mask_1mm.nii.gz"):
        read_bowel_shape(tmp_path)


def test_traced_midline_places_a_jittered_control_point_every_step_along_the_first_stretch():
    path = u_shaped_bowel().path_mm
    curve = traced_midline(path, 45.0, step_mm=10.0, jitter_mm=1.5, seed=2)
    stations = path[0] + np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0], [30, 0, 0], [40, 0, 0], [45, 0, 0]], float)
    assert curve.shape == (6, 3)
    assert np.all(np.linalg.norm(curve - stations, axis=1) <= 1.5 + 1e-9)
    assert np.array_equal(curve, traced_midline(path, 45.0, step_mm=10.0, jitter_mm=1.5, seed=2))
    assert not np.allclose(curve, traced_midline(path, 45.0, step_mm=10.0, jitter_mm=1.5, seed=3))
    # a length past the midline's end stops at its last point
    assert np.linalg.norm(traced_midline(path, 1000.0, jitter_mm=0.0)[-1] - path[-1]) < 1e-9
