"""Bad input, second wave: nothing written outside what the user named, no silent wrong result, no traceback.

Every refusal is exit 2 with one line naming the file and what to do; outputs of one run are a set.
"""

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from SPDSegmentLib.cli import main
from SPDSegmentLib.errors import CheckpointError, InputError
from SPDSegmentLib.inference.io import check_segment_name, output_set, read_volume
from SPDSegmentLib.inference.markup_files import read_markups, write_markups
from SPDSegmentLib.training.dataset import read_case_list


@pytest.fixture(scope="module")
def small_case(tmp_path_factory, mr_crop):
    """The MR crop as NIfTI, a straight curve through its slices, and its label."""
    out = tmp_path_factory.mktemp("second_wave")
    image, label, value = mr_crop
    volume = read_volume(image)
    ijk = np.array([[60.0, 45.0, 0.0], [62.0, 46.0, 3.0]])
    write_markups(out / "curve.mrk.json", "Curve", volume.ijk_to_lps_points(ijk))
    return out, Path(image), Path(label)


def refused(args, capsys, match, created=()):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("spdsegment: error:") and match.lower() in err.lower(), err
    assert not any(Path(p).exists() for p in created)
    return err


def test_a_symbolic_link_planted_as_an_output_is_never_written_through(small_case, tmp_path, capsys):
    folder, image, _ = small_case
    target = tmp_path / "elsewhere" / "victim.nii.gz"
    link = tmp_path / "seg.nii.gz"
    os.symlink(target, link)  # dangling: exists() is False for it
    for force in ([], ["--force"]):
        refused(["segment", str(image), "--curve", str(folder / "curve.mrk.json"), "--output", str(link),
                 "--model", "frozen", *force], capsys, "symbolic link", [target])
    (tmp_path / "out").mkdir()
    os.symlink(target, tmp_path / "out" / "cases.json")
    refused(["synthesize", "--seeds", "1", "--out", str(tmp_path / "out"), "--force"], capsys, "symbolic link",
            [target, tmp_path / "out" / "synthetic-1.nii.gz"])


def test_a_header_pointing_its_data_outside_its_folder_is_refused_and_nothing_of_it_is_shown(tmp_path, capsys):
    secret = tmp_path / "private" / "secret.raw"
    secret.parent.mkdir()
    secret.write_bytes(b"TOP-SECRET" * 100)
    header = tmp_path / "images" / "evil.nhdr"
    header.parent.mkdir()
    header.write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 10 10 10\nencoding: raw\n"
                      "data file: ../private/secret.raw\n\n", encoding="utf-8")
    err = refused(["metrics", str(header), str(header)], capsys, "outside the header's folder")
    assert "TOP-SECRET" not in err


@pytest.mark.parametrize("name", ["TI\nSegment1_Name:=owned", "a" * 200, "tab\tinside", "   "])
def test_segment_names_that_would_corrupt_the_file_are_refused_before_any_work(small_case, tmp_path, capsys, name):
    folder, image, _ = small_case
    out = tmp_path / "seg.seg.nrrd"
    refused(["segment", str(image), "--curve", str(folder / "curve.mrk.json"), "--output", str(out),
             "--model", "frozen", "--segment-name", name], capsys, "name", [out])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=140))
def test_any_segment_name_is_either_refused_or_written_and_read_back_unchanged(name):
    import slicerio

    try:
        clean = check_segment_name(name, nrrd_header=True)
    except InputError:
        stripped = name.strip()
        assert not stripped or len(stripped) > 128 or not stripped.isprintable() or not stripped.isascii()
        return
    import tempfile

    from SPDSegmentLib.inference.io import write_segmentation
    from SPDSegmentLib.inference.volume import Volume

    reference = Volume(np.zeros((2, 3, 4), np.float32), (1, 1, 1), (0, 0, 0), np.eye(3))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s.seg.nrrd"
        write_segmentation(path, np.ones((2, 3, 4)), reference, name)
        assert [s["name"] for s in slicerio.read_segmentation(str(path))["segments"]] == [clean]


def test_a_truncated_or_cut_nifti_is_refused_not_read_as_zeros(small_case, tmp_path, capsys):
    _, image, label = small_case
    whole = gzip.decompress(label.read_bytes())
    (tmp_path / "cut_gzip.nii.gz").write_bytes(label.read_bytes()[: len(label.read_bytes()) // 2])
    (tmp_path / "half.nii.gz").write_bytes(gzip.compress(whole[: len(whole) // 2]))
    (tmp_path / "half.nii").write_bytes(whole[: len(whole) // 2])
    for name, match in (("cut_gzip.nii.gz", "truncated"), ("half.nii.gz", "cut short"), ("half.nii", "cut short")):
        refused(["metrics", str(tmp_path / name), str(label), "--label", "15"], capsys, match)


@pytest.mark.parametrize("kind", ["zero spacing", "sheared direction", "complex voxels"])
def test_geometry_and_voxel_types_that_cannot_be_trusted_are_refused(tmp_path, capsys, kind):
    array = np.zeros((4, 5, 6), np.float32)
    if kind == "complex voxels":
        image = sitk.GetImageFromArray(array.astype(np.complex64))
        path = tmp_path / "complex.nrrd"
        sitk.WriteImage(image, str(path))
        refused(["metrics", str(path), str(path)], capsys, "complex")
        return
    path = tmp_path / "image.nhdr"
    (tmp_path / "image.raw").write_bytes(array.tobytes())
    directions = "(0,0,2) (0,3,0) (1,0,0)" if kind == "zero spacing" else "(1,0,0) (1,1,0) (0,0,1)"
    if kind == "zero spacing":
        directions = "(1,0,0) (0,0,0) (0,0,1)"
    path.write_text("NRRD0004\ntype: float\ndimension: 3\nspace: left-posterior-superior\nsizes: 6 5 4\n"
                    f"space directions: {directions}\nendian: little\nencoding: raw\nspace origin: (0,0,0)\n"
                    "data file: image.raw\n\n", encoding="utf-8")
    refused(["metrics", str(path), str(path)], capsys, "zero" if kind == "zero spacing" else "orthonormal")
    nifti = sitk.GetImageFromArray(array)
    nifti_path = tmp_path / "zero.nii"
    sitk.WriteImage(nifti, str(nifti_path))
    data = bytearray(nifti_path.read_bytes())
    data[80:84] = np.float32(0.0).tobytes()  # pixdim[1] = 0
    nifti_path.write_bytes(bytes(data))
    refused(["metrics", str(nifti_path), str(nifti_path)], capsys, "voxel size")


@pytest.mark.parametrize("content,match", [
    ('[{"image": "a.nii.gz", "label": "b.nii.gz", "label_value": 0}]', "label_value"),
    ('[{"image": "a.nii.gz", "label": "b.nii.gz", "label_value": 1.9}]', "label_value"),
    ('[{"image": "a.nii.gz", "label": "b.nii.gz", "label_value": "abc"}]', "label_value"),
    ("42", "list of cases"),
    ('["a.nii.gz"]', "case 1"),
    ('{"cases": {"image": 1}}', "list of cases"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ("{not json", "not valid JSON"),
])
def test_case_lists_are_checked_field_by_field(tmp_path, content, match):
    path = tmp_path / "cases.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=match) as error:
        read_case_list(path)
    assert str(path) in str(error.value)


def test_excel_and_semicolon_csv_case_lists_are_read(tmp_path):
    (tmp_path / "excel.csv").write_bytes("\ufeffimage,label,label_value\na.nii.gz,b.nii.gz,13\n".encode("utf-8"))
    (tmp_path / "semicolon.csv").write_text("image;label;label_value\na.nii.gz;b.nii.gz;15\n", encoding="utf-8")
    assert read_case_list(tmp_path / "excel.csv")[0].label_value == 13
    assert read_case_list(tmp_path / "semicolon.csv")[0].label_value == 15


@pytest.mark.parametrize("markup,match", [
    ({"controlPoints": {"a": 1}}, "controlPoints"),
    ({"controlPoints": 7}, "controlPoints"),
    ({"controlPoints": None}, "controlPoints"),
    ({"controlPoints": ["point"]}, "control point"),
    ({"controlPoints": [{"position": [1, 2]}]}, "position"),
    ({"controlPoints": [{"position": [1, "x", 2]}]}, "position"),
    ({"coordinateUnits": "cm", "controlPoints": []}, "coordinateUnits"),
    ({"coordinateSystem": "IJK", "controlPoints": []}, "coordinateSystem"),
])
def test_markups_are_checked_field_by_field(tmp_path, markup, match):
    path = tmp_path / "m.mrk.json"
    path.write_text(json.dumps({"markups": [{"type": "Curve", **markup}]}), encoding="utf-8")
    with pytest.raises(InputError, match=match) as error:
        read_markups(path)
    assert str(path) in str(error.value)
    path.write_text(json.dumps({"markups": ["a string"]}), encoding="utf-8")
    with pytest.raises(InputError, match="markup 1"):
        read_markups(path)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.sampled_from(["markups", "controlPoints", "position", "type", "image",
                                                              "label", "label_value", "coordinateUnits", "cases"]),
                                             children, max_size=4), max_leaves=20)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=JSON_VALUES)
def test_any_json_document_is_either_read_or_refused_with_an_input_error(tmp_path, document):
    for reader, name in ((read_markups, "m.mrk.json"), (read_case_list, "cases.json")):
        path = tmp_path / name
        path.write_text(json.dumps(document), encoding="utf-8")
        try:
            reader(path)
        except InputError:
            pass


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz:.,()0123456789 -/", max_size=30), max_size=8))
def test_any_header_is_either_read_or_refused_with_an_input_error(tmp_path, lines):
    path = tmp_path / "fuzz.nhdr"
    path.write_text("NRRD0004\n" + "\n".join(lines) + "\n\n", encoding="utf-8")
    try:
        read_volume(path)
    except InputError:
        pass


def test_adapter_metadata_is_checked_field_by_field(tmp_path, capsys, litemedsam):
    from safetensors.torch import save_file

    from test_predictor_model import spd_model

    from SPDSegmentLib.inference.model import ADAPTER_FORMAT, read_adapter

    tensors = spd_model(litemedsam, 0.0).adapter_tensors()
    for metadata, match in (({"format": ADAPTER_FORMAT}, "no 'config'"),
                            ({"format": ADAPTER_FORMAT, "config": '{"lora_rank": "four"}'}, "lora_rank"),
                            ({"format": ADAPTER_FORMAT, "config": "[1, 2]"}, "not an object"),
                            ({"format": ADAPTER_FORMAT, "config": '{"variant": "magic"}'}, "variant"),
                            ({"format": ADAPTER_FORMAT, "config": '{"ct_window": "soft"}'}, "ct_window"),
                            ({"format": ADAPTER_FORMAT, "config": '{"ct_window": [40, 0], "cpd": {"validate": false}}'},
                             "ct_window .* positive width")):
        path = tmp_path / "bad.safetensors"
        save_file(tensors, str(path), metadata=metadata)
        with pytest.raises(CheckpointError, match=match):
            read_adapter(path)
    bad_shapes = {key: (value[..., :1] if value.ndim else value).contiguous() for key, value in tensors.items()}
    good = spd_model(litemedsam, 0.0).save_adapter(tmp_path / "good.safetensors")
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(bad_shapes, str(tmp_path / "shapes.safetensors"), metadata=metadata)
    image = tmp_path / "img.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 8, 8), np.float32)), str(image))
    write_markups(tmp_path / "p.mrk.json", "Fiducial", np.array([[4.0, 4.0, 1.0]]))
    err = refused(["segment", str(image), "--points", str(tmp_path / "p.mrk.json"), "--output",
                   str(tmp_path / "o.nii.gz"), "--model", str(tmp_path / "shapes.safetensors")], capsys, "do not fit")
    assert len(err) < 400  # one line, not a dump of the state dict


def test_json_the_tool_prints_is_valid_json_and_empty_masks_are_said(tmp_path, capsys):
    empty, full = np.zeros((3, 8, 8), np.uint8), np.zeros((3, 8, 8), np.uint8)
    full[1, 2:5, 2:5] = 1
    for name, array in (("empty", empty), ("full", full)):
        sitk.WriteImage(sitk.GetImageFromArray(array), str(tmp_path / f"{name}.nii.gz"))
    assert main(["metrics", str(tmp_path / "empty.nii.gz"), str(tmp_path / "full.nii.gz"), "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1], parse_constant=lambda c: pytest.fail(c))
    assert result["volume"]["hd95_mm"] is None and "empty" in captured.err


def test_commands_refuse_malformed_options_with_exit_2(tmp_path, capsys):
    refused(["evaluate", "--data", "x.json", "--method", "noequals", "--out", str(tmp_path / "e")], capsys,
            "NAME=ADAPTER")
    refused(["bench", "--batch-size", "0", "--device", "cpu"], capsys, "batch-size")
    refused(["evaluate", "--data", "x.json", "--only", "frozen-boxes", "spd", "--out", str(tmp_path / "e")], capsys,
            "--only names methods this run does not have: spd")
    assert not (tmp_path / "e").exists()


def test_verbose_shows_the_details_but_still_exits_2(tmp_path, capsys):
    code = main(["-v", "metrics", str(tmp_path / "missing.nii.gz"), str(tmp_path / "missing.nii.gz")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("spdsegment: error:")


def test_the_outputs_of_one_run_are_a_set(tmp_path):
    first, second, third = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    with pytest.raises(RuntimeError):
        with output_set() as files:
            files.add(first).write_text("1", encoding="utf-8")
            files.add(second).write_text("2", encoding="utf-8")
            files.add(third)
            raise RuntimeError("the third write failed")
    assert not any(p.exists() for p in (first, second, third)) and list(tmp_path.iterdir()) == []
    with output_set() as files:
        files.add(first).write_text("1", encoding="utf-8")
    assert first.read_text(encoding="utf-8") == "1"


def test_a_dicom_series_folder_is_read_as_one_volume(tmp_path):
    array = (np.arange(4 * 6 * 7) % 50).reshape(4, 6, 7).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series = "1.2.826.0.1.3680043.2.1125.1.42"
    for k in range(image.GetDepth()):
        slice_image = image[:, :, k]
        for tag, value in (("0020|000e", series), ("0020|0013", str(k + 1)), ("0008|0060", "MR"),
                           ("0020|0032", f"0\\0\\{2.5 * k}"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                           ("0028|0030", "0.8\\0.8")):
            slice_image.SetMetaData(tag, value)
        writer.SetFileName(str(tmp_path / f"slice{k}.dcm"))
        writer.Execute(slice_image)
    volume = read_volume(tmp_path)
    assert volume.array_kji.shape == (4, 6, 7) and np.array_equal(volume.array_kji, array)
    assert np.allclose(volume.spacing, (0.8, 0.8, 2.5))
    assert read_volume(tmp_path / "slice2.dcm").array_kji.shape == (4, 6, 7)


def test_finished_runs_and_earlier_evaluations_are_not_replaced_without_force(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "adapter.safetensors").write_bytes(b"earlier")
    refused(["train", "--data", str(tmp_path / "cases.json"), "--out", str(tmp_path / "run")], capsys,
            "already exists")
    assert (tmp_path / "run" / "adapter.safetensors").read_bytes() == b"earlier"
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "evaluation.json").write_text("{}", encoding="utf-8")
    refused(["evaluate", "--data", str(tmp_path / "cases.json"), "--out", str(tmp_path / "eval")], capsys,
            "already exists")


def test_outputs_that_are_folders_or_pipes_and_oversized_curves_are_refused(small_case, tmp_path, capsys):
    folder, image, _ = small_case
    (tmp_path / "a_folder.nii.gz").mkdir()
    os.mkfifo(tmp_path / "pipe.nii.gz")
    for target, match in ((tmp_path / "a_folder.nii.gz", "folder"), (tmp_path / "pipe.nii.gz", "regular file")):
        refused(["segment", str(image), "--curve", str(folder / "curve.mrk.json"), "--output", str(target),
                 "--force", "--model", "frozen"], capsys, match)
    refused(["metrics", str(tmp_path / "pipe.nii.gz"), str(image)], capsys, "regular file")
    huge = tmp_path / "huge.mrk.json"
    points = [{"position": [0.0, 0.0, float(i)]} for i in range(100_001)]
    huge.write_text(json.dumps({"markups": [{"type": "Curve", "controlPoints": points}]}), encoding="utf-8")
    refused(["segment", str(image), "--curve", str(huge), "--output", str(tmp_path / "o.nii.gz")], capsys,
            "at most 100000")
