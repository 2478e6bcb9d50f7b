"""The mask decoder exported to ONNX and run by ONNX Runtime or OpenVINO: the logits and predicted IoU of torch for
boxes and for any number of points (LiteMedSAM's decoder and segment-anything's), one export per decoder, kept for
later runs; and masks that do not depend on what a request was batched with."""

import copy

import numpy as np
import pytest
import torch

from SPDSegmentLib.inference.backbones import build_sam_vit
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.onnx_decoder import ExportedDecoder, exported_decoder
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.training.dataset import CaseSpec, load_case


def real_embeddings(backbone, mr_crop, count: int) -> torch.Tensor:
    case = load_case(CaseSpec(*mr_crop))
    image = torch.from_numpy(case.volume.array_kji[1].astype(np.float32))
    image = (image - image.min()) / (image.max() - image.min())
    size = backbone.prompt_encoder.input_image_size[0]
    images = torch.nn.functional.interpolate(image[None, None], size=(size, size)).repeat(count, 3, 1, 1)
    with torch.no_grad():
        return backbone.encode(images)


PROMPTS = {
    "boxes": (None, None, torch.tensor([[60.0, 70.0, 150.0, 160.0], [20.0, 30.0, 90.0, 120.0], [100, 90, 220, 230]])),
    "one point": (torch.tensor([[[120.0, 110.0]], [[40.0, 60.0]], [[180.0, 200.0]]]), torch.ones(3, 1), None),
    "three points, one negative": (torch.tensor([[[120.0, 110.0], [130, 140], [30, 30]]] * 3),
                                   torch.tensor([[1.0, 1.0, 0.0]] * 3), None),
}


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_decoder_gives_torchs_logits_for_boxes_and_points(litemedsam, mr_crop, tmp_path, runtime):
    backbone = copy.deepcopy(litemedsam).optimise_for_inference()
    decoder = exported_decoder(backbone.mask_decoder, 64, threads=2, runtime=runtime, directory=tmp_path)
    assert isinstance(decoder, ExportedDecoder) and decoder.runtime == runtime and decoder.prepared_s > 0
    embeddings = real_embeddings(backbone, mr_crop, 3)
    for name, (points, labels, boxes) in PROMPTS.items():
        with torch.no_grad():
            expected_logits, expected_iou = backbone.decode(embeddings, points, labels, boxes)
        logits, iou = backbone.decode(embeddings, points, labels, boxes, decoder)
        assert logits.shape == expected_logits.shape == (3, 1, 256, 256), name
        assert torch.allclose(logits, expected_logits, atol=1e-3), (name, (logits - expected_logits).abs().max())
        assert torch.allclose(iou, expected_iou, atol=1e-4), name
        assert ((logits > 0) == (expected_logits > 0)).float().mean() > 0.9999, name


def test_segment_anythings_decoder_exports_too(mr_crop, tmp_path):
    """The official SAM decoder (random weights), which takes one image at a time."""
    backbone = build_sam_vit("sam_vit_b", image_size=128).eval()
    grid = backbone.prompt_encoder.image_embedding_size[0]
    decoder = exported_decoder(backbone.mask_decoder, grid, threads=2, runtime="onnx", directory=tmp_path)
    embeddings = torch.randn(2, 256, grid, grid)
    points, labels = torch.tensor([[[40.0, 50.0], [70.0, 20.0]]] * 2), torch.tensor([[1.0, 0.0]] * 2)
    with torch.no_grad():
        expected, _ = backbone.decode(embeddings, points, labels, None)
    got, _ = backbone.decode(embeddings, points, labels, None, decoder)
    assert torch.allclose(got, expected, atol=1e-3), (got - expected).abs().max()


def test_exported_decoder_refuses_what_it_was_not_exported_for(litemedsam, tmp_path):
    decoder = exported_decoder(litemedsam.mask_decoder, 64, threads=1, directory=tmp_path)
    sparse, dense = torch.zeros(2, 2, 256), torch.zeros(2, 256, 64, 64)
    with pytest.raises(ValueError, match="one mask per prompt set"):
        decoder(torch.zeros(2, 256, 64, 64), torch.zeros(1, 256, 64, 64), sparse, dense, multimask_output=True)
    with pytest.raises(ValueError, match="one image per prompt set"):
        decoder(torch.zeros(1, 256, 64, 64), torch.zeros(1, 256, 64, 64), sparse, dense)


def test_the_default_exports_both_its_decoders_once_and_a_later_predictor_reuses_them(mr_crop):
    first = SpdPredictor(build_model("default"), InferenceOptions(device="cpu", runtime="onnx"))
    assert first.decoder_runtime == "onnx"
    first.prepare_exports()
    tuned, base = first.model.backbone.mask_decoder, first.model.base_decoder()
    assert tuned is not base
    exported = [first._runtime_decoder(decoder) for decoder in (tuned, base)]
    assert all(isinstance(decoder, ExportedDecoder) for decoder in exported)
    assert exported[0].path != exported[1].path and first._runtime_decoder(tuned) is exported[0]
    later = SpdPredictor(build_model("default"), InferenceOptions(device="cpu", runtime="onnx"))
    assert later.prepare_exports() == 0.0
    assert later._runtime_decoder(later.model.base_decoder()).path == exported[1].path
    assert SpdPredictor(build_model("default"), InferenceOptions(device="cpu", runtime="torch")).decoder_runtime == \
        "torch"


def decode_in_batches_of(size: int, requests, mr_crop):
    case = load_case(CaseSpec(*mr_crop))
    predictor = SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", runtime="torch"))
    predictor.set_volume(case.volume, case.axis)
    predictor.decode_batch_size = size
    return predictor._decode(requests, None)


def test_a_mask_does_not_depend_on_what_it_was_batched_with(mr_crop):
    """Requests with 0, 1 and 3 negative points beside one box, and point prompts of 1 to 3 points: decoded one at
    a time and all together, the same masks (padding one request's points to the length of the others in its batch
    would add tokens the decoder attends to)."""
    box = np.array([[30.0, 30.0], [90.0, 100.0]])
    negatives = [np.zeros((0, 2)), np.array([[40.0, 45.0]]), np.array([[40.0, 45.0], [80.0, 90.0], [60.0, 35.0]])]
    with_box = [(1, xy, np.zeros(len(xy)), box) for xy in negatives] + [(2, negatives[1], np.zeros(1), box)]
    clicks = np.array([[60.0, 65.0], [62.0, 70.0], [20.0, 20.0]])
    labels = np.array([1.0, 1.0, 0.0])  # the third click is a negative one
    points = [(t, clicks[:count], labels[:count], None) for t, count in ((1, 1), (2, 2), (1, 3))]
    requests = with_box + points
    masks, quality = decode_in_batches_of(8, requests, mr_crop)
    alone, alone_quality = decode_in_batches_of(1, requests, mr_crop)
    assert masks.shape[0] == 7 and masks.any(axis=(1, 2)).all()
    assert np.array_equal(masks, alone)
    assert np.allclose(quality, alone_quality, atol=1e-5)
    # the negative points do change the mask, so the check above could fail
    assert not np.array_equal(masks[0], masks[2])


def test_point_prompts_are_padded_to_the_most_points_of_the_call_as_in_training(mr_crop):
    """The tuned decoder was trained on a window's slices padded to the longest; a one-click request decoded beside
    a three-click one gets the same two padding tokens wherever it lands, and without the longer request none."""
    clicks = np.array([[60.0, 65.0], [62.0, 70.0], [64.0, 75.0]])
    one, three = (1, clicks[:1], np.ones(1), None), (2, clicks, np.ones(3), None)
    beside, _ = decode_in_batches_of(1, [one, three], mr_crop)
    alone, _ = decode_in_batches_of(1, [one], mr_crop)
    case = load_case(CaseSpec(*mr_crop))
    predictor = SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", runtime="torch"))
    predictor.set_volume(case.volume, case.axis)
    predictor.encode(np.array([1]))
    padded = predictor._decode_batch([one], None, pad_to=3)[0]
    assert np.array_equal(beside[0], (predictor._frame.maps_to_slice(padded)[:, 0] > 0).numpy()[0])
    assert not np.array_equal(beside[0], alone[0])
