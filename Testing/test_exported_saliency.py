"""The saliency head exported to ONNX and run by ONNX Runtime or OpenVINO: torch's logits on real embeddings for any
number of slices, one export per head's weights."""

import copy

import numpy as np
import pytest
import torch

from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.onnx_saliency import ExportedSaliencyHead, exported_saliency_head
from SPDSegmentLib.training.dataset import CaseSpec, load_case


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_saliency_head_gives_torchs_logits_for_any_number_of_slices(mr_crop, tmp_path, runtime):
    model = build_model("default").eval()
    case = load_case(CaseSpec(*mr_crop))
    images = torch.from_numpy(case.volume.array_kji[:3].astype(np.float32))
    images = (images - images.min()) / (images.max() - images.min())
    images = torch.nn.functional.interpolate(images[:, None], size=(256, 256)).repeat(1, 3, 1, 1)
    with torch.no_grad():
        embeddings = model.backbone.encode(images)
        expected = model.saliency_logits(embeddings)
    head = exported_saliency_head(model.saliency_head, 64, threads=2, runtime=runtime, directory=tmp_path)
    assert isinstance(head, ExportedSaliencyHead) and head.runtime == runtime and head.prepared_s > 0
    for count in (1, 3):
        got = head(embeddings[:count])
        assert got.shape == expected[:count].shape == (count, 1, 128, 128)
        assert torch.allclose(got, expected[:count], atol=1e-4), (got - expected[:count]).abs().max()


def test_a_head_with_other_weights_gets_its_own_export(tmp_path):
    head = build_model("default").saliency_head
    first = exported_saliency_head(head, 64, threads=1, directory=tmp_path)
    again = exported_saliency_head(head, 64, threads=1, directory=tmp_path)
    assert again.path == first.path and again.prepared_s == 0.0
    retrained = copy.deepcopy(head)
    with torch.no_grad():
        retrained.layers[-1].bias += 1.0
    other = exported_saliency_head(retrained, 64, threads=1, directory=tmp_path)
    assert other.path != first.path and other.prepared_s > 0
    embeddings = torch.randn(1, 256, 64, 64)
    assert torch.allclose(other(embeddings), first(embeddings) + 1.0, atol=1e-4)
