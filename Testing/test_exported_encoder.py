"""The CPU encoder exported to ONNX and run by OpenVINO or ONNX Runtime: same embeddings and masks as torch,
exported once and kept with a hash check, OpenVINO first where it is installed, and a clear word when neither
can be used. (The exported decoder: test_exported_decoder.py.)"""

import copy
import json

import numpy as np
import pytest
import torch

from SPDSegmentLib.errors import InputError
from SPDSegmentLib.inference import exported_graphs
from SPDSegmentLib.inference import onnx_encoder as onnx_module
from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.metrics import compute_dice
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.inference.prompts import curve_to_prompts
from SPDSegmentLib.training.dataset import CaseSpec, load_case
from SPDSegmentLib.training.simulate import simulate_clinician_centerline


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDSEGMENT_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "models" / "exported"


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_embeddings_equal_torch_on_a_real_slice(litemedsam, mr_crop, store, runtime):
    backbone = copy.deepcopy(litemedsam).optimise_for_inference()
    encoder = onnx_module.exported_encoder(backbone, 256, "test-key", threads=2, runtime=runtime)
    assert encoder.runtime == runtime
    case = load_case(CaseSpec(*mr_crop))
    image = torch.from_numpy(case.volume.array_kji[1].astype(np.float32))
    image = (image - image.min()) / (image.max() - image.min())
    images = torch.nn.functional.interpolate(image[None, None], size=(256, 256)).repeat(2, 3, 1, 1)
    with torch.no_grad():
        expected = backbone.encode(images)
    got = encoder(images)
    assert got.shape == expected.shape == (2, 256, 64, 64)
    assert torch.allclose(got, expected, atol=1e-4), (got - expected).abs().max()
    assert encoder.path is not None and encoder.path.parent == store and encoder.prepared_s > 0


def test_both_runtimes_give_the_torch_masks_share_the_exports_and_auto_takes_the_faster_of_each(mr_crop, store):
    case = load_case(CaseSpec(*mr_crop))
    curve = simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed=0)
    prompts = curve_to_prompts([curve], case.volume, case.axis)
    masks, saliency = {}, {}
    for runtime in ("torch", "auto", "onnx", "openvino"):
        predictor = SpdPredictor(build_model("default"), InferenceOptions(device="cpu", runtime=runtime))
        predictor.set_volume(case.volume, case.axis)
        result = predictor.predict(prompts)
        masks[runtime] = result.mask_kji
        prepared = [n for n in result.notices if n.startswith("Prepared the fast CPU path")]
        assert predictor.runtime == ("openvino" if runtime == "auto" else runtime)
        assert predictor.decoder_runtime == ("onnx" if runtime == "auto" else runtime)
        # the first run exports, in one notice; the other runtimes load the kept exports
        assert len(prepared) == (1 if runtime == "auto" else 0), result.notices
        assert all("(encoder and saliency head on OpenVINO, decoder on ONNX Runtime)" in notice for notice in prepared)
        saliency[runtime] = predictor._saliency.copy()  # the learned prior, on every slice the run encoded
    assert masks["torch"].any()
    for runtime in ("auto", "onnx", "openvino"):
        assert compute_dice(masks[runtime], masks["torch"]) >= 0.99, runtime
        assert saliency["torch"].max() > 0 and np.abs(saliency[runtime] - saliency["torch"]).max() < 1e-3, runtime
    again = predictor.predict(prompts)
    assert not any(n.startswith("Prepared") for n in again.notices)
    # the encoder, the decoder(s) and the saliency head the runs used, each with its record: no temporary file left
    kept = {suffix: sorted(path.stem for path in store.iterdir() if path.suffix == suffix)
            for suffix in (".json", ".onnx")}
    assert len(list(store.iterdir())) == 2 * len(kept[".onnx"]) >= 6 and kept[".json"] == kept[".onnx"]


def test_a_damaged_export_is_rebuilt_not_trusted(litemedsam, store):
    backbone = copy.deepcopy(litemedsam).optimise_for_inference()
    first = onnx_module.exported_encoder(backbone, 256, "key", threads=1)
    reused = onnx_module.exported_encoder(backbone, 256, "key", threads=1)
    assert reused.prepared_s == 0.0 and reused.path == first.path
    data = bytearray(first.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    first.path.write_bytes(bytes(data))
    rebuilt = onnx_module.exported_encoder(backbone, 256, "key", threads=1)
    assert rebuilt.prepared_s > 0 and exported_graphs.kept_export(rebuilt.path)
    first.path.with_suffix(".json").write_text("{not json", encoding="utf-8")
    assert onnx_module.exported_encoder(backbone, 256, "key", threads=1).prepared_s > 0


def test_a_new_export_replaces_the_same_encoders_outdated_one_and_leaves_others(litemedsam, store):
    store.mkdir(parents=True)
    # records written before the decoder was exported name the encoder key; later ones the identity
    for name, field, key in (("outdated", "identity", "key"), ("older", "encoder_key", "key"),
                             ("other", "identity", "another model's key")):
        (store / f"{name}.onnx").write_bytes(b"an export made by an older torch")
        (store / f"{name}.json").write_text(json.dumps({"sha256": "0", field: key}), encoding="utf-8")
    (store / "broken.json").write_text("{not json", encoding="utf-8")
    encoder = onnx_module.exported_encoder(copy.deepcopy(litemedsam), 256, "key", threads=1)
    assert sorted(path.name for path in store.iterdir()) == sorted(
        ["broken.json", "other.json", "other.onnx", encoder.path.name, encoder.path.with_suffix(".json").name])


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_a_store_that_cannot_be_written_gets_an_export_in_memory(litemedsam, tmp_path, runtime):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    encoder = onnx_module.exported_encoder(copy.deepcopy(litemedsam), 256, "key", threads=1, runtime=runtime,
                                           directory=blocked / "sub")
    assert encoder.path is None and encoder(torch.rand(1, 3, 256, 256)).shape == (1, 256, 64, 64)
    assert blocked.read_text(encoding="utf-8") == "not a folder"


def missing_runtimes(monkeypatch, *names):
    def missing(runtime):
        return f"{exported_graphs.RUNTIME_PACKAGES[runtime]} is not installed" if runtime in names else None

    monkeypatch.setattr(predictor_module, "runtime_missing", missing)
    monkeypatch.setattr(exported_graphs, "runtime_missing", missing)


def test_without_openvino_auto_takes_onnx_runtime_and_openvino_is_refused(monkeypatch, store):
    missing_runtimes(monkeypatch, "openvino")
    predictor = SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu"))
    assert predictor.runtime == predictor.decoder_runtime == "onnx" and predictor.notices == []
    with pytest.raises(InputError, match="--runtime openvino needs OpenVINO .openvino is not installed.: "
                                         "pip install openvino onnx, or use --runtime torch"):
        SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", runtime="openvino"))


def test_without_either_runtime_auto_says_so_and_onnx_is_refused(monkeypatch, store):
    missing_runtimes(monkeypatch, "openvino", "onnx")
    predictor = SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu"))
    assert predictor.runtime == predictor.decoder_runtime == "torch"
    assert predictor.notices == ["The encoder and decoder run in torch, slower on the CPU than on OpenVINO or ONNX "
                                 "Runtime (onnxruntime is not installed; openvino is not installed; pip install "
                                 "openvino onnx)."]
    with pytest.raises(InputError, match="--runtime onnx needs ONNX Runtime"):
        SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", runtime="onnx"))


@pytest.mark.parametrize("runtime, name", [("onnx", "ONNX Runtime"), ("openvino", "OpenVINO")])
def test_the_exported_encoder_is_refused_off_fp32_and_torch_is_kept_where_asked(store, runtime, name):
    with pytest.raises(InputError, match=f"The {name} encoder runs on the CPU in fp32 only"):
        SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", precision="bf16", runtime=runtime))
    assert SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", precision="bf16")).runtime == "torch"
    assert SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", runtime="torch")).runtime == "torch"
    with pytest.raises(InputError, match="runtime must be one of"):
        InferenceOptions(runtime="tensorrt")
