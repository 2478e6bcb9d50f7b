"""The fast path keeps results, CUDA out-of-memory falls back, and the benchmark measures both paths."""

import copy
import json

import numpy as np
import pytest
import torch

from SPDSegmentLib.cli import main
from SPDSegmentLib.inference.backbones import build_sam_vit
from SPDSegmentLib.training.dataset import CaseSpec, load_case
from SPDSegmentLib.inference.metrics import compute_dice
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.training.simulate import simulate_clinician_centerline
from SPDSegmentLib.inference.prompts import curve_to_prompts


def encodings_before_and_after_rewrites(backbone, images):
    with torch.inference_mode():
        plain = backbone.encode(images)
        fast = copy.deepcopy(backbone).optimise_for_inference().encode(images)
    return plain, fast


def test_folded_conv_batchnorm_keeps_litemedsam_embeddings(litemedsam):
    images = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    plain, fast = encodings_before_and_after_rewrites(litemedsam, images)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in
                   copy.deepcopy(litemedsam).optimise_for_inference().image_encoder.modules())
    assert torch.allclose(plain, fast, atol=1e-4)


def test_fused_attention_keeps_vit_embeddings_with_relative_positions():
    torch.manual_seed(0)
    backbone = build_sam_vit("sam_vit_b", image_size=128)
    with torch.no_grad():  # random weights start with zero relative-position tables; make them matter
        for name, parameter in backbone.named_parameters():
            if "rel_pos" in name:
                parameter.normal_(0, 0.5)
    plain, fast = encodings_before_and_after_rewrites(backbone, torch.rand(1, 3, 128, 128))
    assert (plain - fast).abs().max() < 1e-4 * plain.abs().max()


def masks_fast_and_fp32(case, model):
    curve = simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed=0)
    prompts = curve_to_prompts([curve], case.volume, case.axis)
    masks = []
    for fast in (True, False):
        predictor = SpdPredictor(build_model(model), InferenceOptions(device="cpu", precision="fp32"), fast=fast)
        predictor.set_volume(case.volume, case.axis)
        masks.append(predictor.predict(prompts).mask_kji)
    return masks


@pytest.fixture(scope="module")
def sample_case(tmp_path_factory):
    from SPDSegmentLib.tools.bench import bench_case
    from SPDSegmentLib.inference.io import write_volume

    case, _ = bench_case(8)
    out = tmp_path_factory.mktemp("sample")
    write_volume(out / "image.nii.gz", case.volume.array_kji, case.volume)
    write_volume(out / "label.nii.gz", case.label_kji.astype(np.uint8), case.volume)
    return load_case(CaseSpec(out / "image.nii.gz", out / "label.nii.gz", 1))


@pytest.mark.parametrize("which,model", [("sample", "default"), ("mr", "frozen")])  # default rejects MR prompts
def test_fast_path_masks_agree_with_the_fp32_path(which, model, sample_case, mr_crop):
    case = sample_case if which == "sample" else load_case(CaseSpec(mr_crop[0], mr_crop[1], mr_crop[2]))
    fast, fp32 = masks_fast_and_fp32(case, model)
    assert fp32.any()
    assert compute_dice(fast, fp32) >= 0.99


def test_cuda_out_of_memory_halves_the_batch_and_keeps_the_result(litemedsam, mr_crop, monkeypatch):
    from test_predictor_model import spd_model

    case = load_case(CaseSpec(mr_crop[0], mr_crop[1], mr_crop[2]))
    curve = simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed=0)
    prompts = curve_to_prompts([curve], case.volume, case.axis)
    torch_encoder = InferenceOptions(device="cpu", batch_size=4, runtime="torch")  # the encoder CUDA runs
    reference = SpdPredictor(spd_model(litemedsam, 10.0), torch_encoder)
    reference.set_volume(case.volume, case.axis)
    expected = reference.predict(prompts).mask_kji

    predictor = SpdPredictor(spd_model(litemedsam, 10.0), torch_encoder)
    encode = predictor._encoder
    calls = []

    def encode_or_run_out(images):
        calls.append(len(images))
        if len(images) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return encode(images)

    predictor._encoder = encode_or_run_out
    predictor.set_volume(case.volume, case.axis)
    result = predictor.predict(prompts)
    assert np.array_equal(result.mask_kji, expected)
    assert predictor.batch_size == 1 and calls[0] == 4 and set(calls) == {4, 2, 1}


def test_out_of_memory_in_the_decoder_caps_later_decoder_batches_only(litemedsam, mr_crop):
    from test_predictor_model import spd_model

    case = load_case(CaseSpec(mr_crop[0], mr_crop[1], mr_crop[2]))
    predictor = SpdPredictor(spd_model(litemedsam, 10.0), InferenceOptions(device="cpu", batch_size=4))
    decode = predictor._decode_batch
    sizes = []

    def decode_or_run_out(batch, decoder, pad_to):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return decode(batch, decoder, pad_to)

    predictor._decode_batch = decode_or_run_out
    predictor.set_volume(case.volume, case.axis)
    curve = simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed=1)
    result = predictor.predict(curve_to_prompts([curve], case.volume, case.axis))
    ran_out = next(i for i, size in enumerate(sizes) if size > 2)
    assert result.mask_kji.any() and max(sizes[ran_out + 1:]) <= 2
    assert predictor.decode_batch_size <= 2 and predictor.batch_size == 4


def test_out_of_memory_on_one_slice_off_cuda_is_raised_not_hidden(litemedsam, mr_crop):
    from test_predictor_model import spd_model

    case = load_case(CaseSpec(mr_crop[0], mr_crop[1], mr_crop[2]))
    predictor = SpdPredictor(spd_model(litemedsam, 10.0), InferenceOptions(device="cpu", batch_size=1,
                                                                           runtime="torch"))

    def run_out(images):
        raise torch.OutOfMemoryError("out of memory")

    predictor._encoder = run_out
    predictor.set_volume(case.volume, case.axis)
    curve = simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed=0)
    with pytest.raises(torch.OutOfMemoryError):
        predictor.predict(curve_to_prompts([curve], case.volume, case.axis))


@pytest.mark.cuda
def test_cuda_out_of_memory_on_one_slice_goes_on_on_the_cpu_with_a_notice(litemedsam, mr_crop):
    from test_predictor_model import spd_model

    case = load_case(CaseSpec(mr_crop[0], mr_crop[1], mr_crop[2]))
    predictor = SpdPredictor(spd_model(litemedsam, 10.0), InferenceOptions(device="cuda", batch_size=1))
    encode = predictor._encoder

    def run_out_on_cuda(images):
        if images.is_cuda:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return encode(images)

    predictor._encoder = run_out_on_cuda
    predictor.set_volume(case.volume, case.axis)
    curve = simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed=0)
    result = predictor.predict(curve_to_prompts([curve], case.volume, case.axis))
    assert predictor.device.type == "cpu" and "CPU" in result.notices[0]


EXPORTED_PATHS = ("spd-onnx", "spd-openvino", "spd-auto")


def test_bench_times_every_path_and_checks_the_fast_masks(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--device", "cpu", "--slices", "3", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "stock" in printed and all(f"{path} vs stock" in printed for path in EXPORTED_PATHS)
    report = json.loads(out.read_text(encoding="utf-8"))
    paths = {t["path"]: t for t in report["timings"]}
    assert set(paths) == {"stock", "spd-fp32", "spd-fast", *EXPORTED_PATHS, "spd-rerun", "spd-edit"}
    assert all(t["seconds"] > 0 and t["peak_memory_mb"] > 0 for t in paths.values())
    assert all(paths[path]["dsc_vs_fp32"] >= 0.99 for path in ("spd-fast", *EXPORTED_PATHS))
    assert set(report["speedup_vs_stock"]) == {"spd-fast", *EXPORTED_PATHS}


def test_bench_times_one_path_alone_and_refuses_an_unknown_one(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--device", "cpu", "--slices", "3", "--skip-stock", "--path", "spd-auto",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [t["path"] for t in report["timings"]] == ["spd-auto", "spd-rerun", "spd-edit"]
    assert report["timings"][0]["dsc_vs_fp32"] is None and report["timings"][0]["peak_memory_mb"] > 0
    capsys.readouterr()
    assert main(["bench", "--device", "cpu", "--slices", "3", "--skip-stock", "--path", "spd-tensorrt"]) == 2
    assert "--path spd-tensorrt is not one of this device's paths: spd-fp32, spd-fast, spd-onnx" in \
        capsys.readouterr().err


def test_bench_puts_the_same_field_anatomy_and_curve_on_a_finer_matrix(capsys):
    """--matrix resamples the generated sample onto more pixels over the same 240 mm field: the slices' corners stay
    where they were, the label keeps its volume in mm3, and the centerline's prompts lie where they lay in space."""
    from SPDSegmentLib.tools.bench import bench_case

    base, base_prompts = bench_case(12, prompts="centerline")
    fine, fine_prompts = bench_case(12, prompts="centerline", matrix=320)
    assert fine.volume.array_kji.shape == fine.label_kji.shape == fine.neighbours_kji.shape == (12, 320, 320)
    assert np.allclose(fine.volume.spacing, base.volume.spacing * [0.5, 0.5, 1.0])
    corners = np.array([[-0.5, -0.5, 0.0], [-0.5 + 160, -0.5 + 160, 11.0]])
    assert np.allclose(fine.volume.ijk_to_lps_points(corners * [2, 2, 1] + [0.5, 0.5, 0]),
                       base.volume.ijk_to_lps_points(corners))
    mm3 = [case.label_kji.sum() * np.prod(case.volume.spacing) for case in (base, fine)]
    assert abs(mm3[1] - mm3[0]) < 0.03 * mm3[0]

    def in_space(case, prompts):
        return case.volume.ijk_to_lps_points(np.column_stack([prompts.xy, prompts.slice_index]))

    # the curve is sampled finer on finer pixels, so each slice's prompts are compared where they lie on average
    assert np.array_equal(fine_prompts.slices, base_prompts.slices)
    fine_mm, base_mm = in_space(fine, fine_prompts), in_space(base, base_prompts)
    assert max(np.linalg.norm(fine_mm[fine_prompts.slice_index == t].mean(axis=0)
                              - base_mm[base_prompts.slice_index == t].mean(axis=0)) for t in base_prompts.slices) < 1.5
    assert main(["bench", "--device", "cpu", "--slices", "3", "--matrix", "16"]) == 2
    assert "--matrix 16: give the in-plane pixels of a slice, 64 to 1024" in capsys.readouterr().err


def test_precision_auto_keeps_fp32_on_the_cpu_and_fp16_is_cuda_only():
    from SPDSegmentLib.inference.fast_inference import resolve_precision

    assert resolve_precision("auto", torch.device("cpu")) == torch.float32
    assert resolve_precision("auto", torch.device("cuda")) == torch.float16
    with pytest.raises(ValueError, match="fp16 is for CUDA"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int8", torch.device("cpu"))
