"""Backbones: real LiteMedSAM weights, SAM ViT-B architecture with random weights, safe checkpoint loading."""

import pickle

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from SPDSegmentLib.errors import CheckpointError
from SPDSegmentLib.inference.backbones import build_litemedsam, build_sam_vit, read_state_dict
from SPDSegmentLib.inference.lora import add_lora, load_lora_state_dict, lora_state_dict
from SPDSegmentLib.inference.metrics import compute_dice
from SPDSegmentLib.inference.slices import ModelFrame, normalise_intensity


@pytest.fixture(scope="module")
def vit_b_small():
    torch.manual_seed(0)
    return build_sam_vit("sam_vit_b", image_size=128)


def test_litemedsam_with_bundled_weights_segments_a_real_kidney_from_a_tight_box(ct_crop, litemedsam):
    image_path, label_path, value = ct_crop
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(image_path)))
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(label_path)))
    kidney = labels == value
    k = int(np.argmax(kidney.reshape(len(kidney), -1).sum(1)))
    slice_image = normalise_intensity(image)[k]
    ys, xs = np.nonzero(kidney[k])
    frame = ModelFrame(*slice_image.shape, 256, (3.0, 3.0))
    box = frame.points_to_model(np.array([[xs.min(), ys.min()], [xs.max(), ys.max()]], float)).reshape(1, 4)
    with torch.no_grad():
        embeddings = litemedsam.encode(frame.images_to_model(torch.from_numpy(slice_image)[None]))
        logits, quality = litemedsam.decode(embeddings, boxes=torch.from_numpy(box).float())
    mask = (frame.maps_to_slice(logits) > 0)[0, 0].numpy()
    assert compute_dice(mask, kidney[k]) > 0.75
    assert quality.shape == (1,) and 0.5 < float(quality[0]) <= 1.0  # a tight box on a kidney: a confident mask
    assert len(litemedsam.checkpoint_sha256) == 64


def test_vit_b_at_small_input_encodes_and_decodes_points(vit_b_small):
    with torch.no_grad():
        embeddings = vit_b_small.encode(torch.rand(2, 3, 128, 128))
        points = torch.tensor([[[10.0, 20.0], [0, 0]], [[50.0, 60.0], [70, 80]]])
        logits, quality = vit_b_small.decode(embeddings, points, torch.tensor([[1.0, -1.0], [1.0, 0.0]]))
    assert embeddings.shape == (2, 256, 8, 8) and logits.shape == (2, 1, 32, 32) and quality.shape == (2,)


def test_vit_checkpoint_of_another_input_size_loads_with_interpolated_position_tables(vit_b_small, tmp_path):
    torch.save(vit_b_small.state_dict(), tmp_path / "vit_b_128.pth")
    smaller = build_sam_vit("sam_vit_b", tmp_path / "vit_b_128.pth", image_size=64)
    assert smaller.image_encoder.pos_embed.shape == (1, 4, 4, 768)
    assert torch.equal(smaller.mask_decoder.iou_token.weight, vit_b_small.mask_decoder.iou_token.weight)


def test_checkpoint_of_another_backbone_names_both_architectures(vit_b_small, tmp_path):
    torch.save(vit_b_small.state_dict(), tmp_path / "vit_b.pth")
    with pytest.raises(CheckpointError, match=r"holds sam_vit_b .* expects litemedsam"):
        build_litemedsam(tmp_path / "vit_b.pth")
    with pytest.raises(CheckpointError, match=r"expects sam_vit_l"):
        build_sam_vit("sam_vit_l", tmp_path / "vit_b.pth", image_size=64)


def test_truncated_checkpoint_is_refused(vit_b_small, tmp_path):
    path = tmp_path / "truncated.pth"
    torch.save(vit_b_small.state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        read_state_dict(path)


class _RunsCode:
    def __reduce__(self):
        import os
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickle_carrying_code_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"model": _RunsCode()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="never unpickles"):
        read_state_dict(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.mark.parametrize("builder", ["litemedsam", "sam_vit_b"])
def test_lora_trains_only_its_matrices_and_leaves_base_weights_unchanged(builder, litemedsam, vit_b_small):
    import copy

    backbone = copy.deepcopy(litemedsam if builder == "litemedsam" else vit_b_small)
    encoder = add_lora(backbone.image_encoder, rank=4)
    trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    base_before = {n: p.detach().clone() for n, p in encoder.named_parameters() if "lora_" not in n}
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=1e-2)
    size = backbone.image_size
    encoder.eval()
    for _ in range(2):
        loss = backbone.encode(torch.rand(1, 3, size, size)).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(torch.equal(p, base_before[n]) for n, p in encoder.named_parameters() if "lora_" not in n)
    state = lora_state_dict(encoder)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in state.items())
    fresh = add_lora(copy.deepcopy(litemedsam if builder == "litemedsam" else vit_b_small).image_encoder, rank=4)
    load_lora_state_dict(fresh, state)
    assert all(torch.equal(v, lora_state_dict(fresh)[k]) for k, v in state.items())
