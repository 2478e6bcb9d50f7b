"""The home-cache model store (download with hash check, cancel, import) and the headless slice render."""

import hashlib

import numpy as np
import pytest
import torch

from SPDSegmentLib import model_store
from SPDSegmentLib.errors import CheckpointError


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDSEGMENT_HOME", str(tmp_path / "home"))
    payload = tmp_path / "served.pth"
    payload.write_bytes(b"weights" * 5000)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    entries = model_store.catalog()
    entry = entries["sam_vit_b"]
    monkeypatch.setattr(model_store, "catalog", lambda: {**entries, "sam_vit_b": model_store.CatalogEntry(
        **{**entry.__dict__, "sha256": digest})})
    return payload


def test_download_verifies_the_hash_reports_bytes_and_installs_in_the_home_cache(store):
    seen = []
    path = model_store.download("sam_vit_b", progress=lambda done, total: seen.append(done), url=store.as_uri(),
                                chunk=4096)
    assert path == model_store.models_dir() / "sam_vit_b_01ec64.pth" and path.read_bytes() == store.read_bytes()
    assert seen[-1] == store.stat().st_size and len(seen) > 1
    assert model_store.installed_path("sam_vit_b") == path


def test_damaged_or_cancelled_download_leaves_no_file(store, tmp_path):
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(b"not the weights")
    with pytest.raises(CheckpointError, match="SHA256"):
        model_store.download("sam_vit_b", url=damaged.as_uri())
    with pytest.raises(model_store.DownloadCancelled):
        model_store.download("sam_vit_b", url=store.as_uri(), cancel=lambda: True, chunk=4096)
    assert list(model_store.models_dir().iterdir()) == []


def test_import_checks_the_architecture(store, tmp_path):
    fake_vit_b = {"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 1, 1)}
    fake_vit_b.update({f"image_encoder.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(12)})
    torch.save(fake_vit_b, tmp_path / "mine.pth")
    assert model_store.import_file("sam_vit_b", tmp_path / "mine.pth").is_file()
    with pytest.raises(CheckpointError, match="not sam_vit_l"):
        model_store.import_file("sam_vit_l", tmp_path / "mine.pth")


def test_render_shows_the_saliency_heat_map_and_the_segment_outline(slicer_scene, tmp_path):
    from SPDSegmentLib.bridge.overlay import fill_saliency_node
    from SPDSegmentLib.tools.render import render_slice
    from SPDSegmentLib.bridge.segmentation import write_segment
    from SPDSegmentLib.inference.volume import Volume

    image = np.random.default_rng(0).normal(100.0, 10.0, (8, 64, 64)).astype(np.float32)
    volume_node = slicer_scene.add_volume(Volume(image, (1.5, 1.5, 3.0), (0, 0, 0), np.eye(3)), "MR")
    volume_node.CreateDefaultDisplayNodes()
    saliency = np.zeros(image.shape, np.float32)
    saliency[:, 5:30, 5:30] = 0.9
    saliency_node = slicer_scene.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "saliency")
    fill_saliency_node(saliency_node, volume_node, saliency)
    segmentation = slicer_scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg")
    mask = np.zeros(image.shape, np.uint8)
    mask[:, 40:55, 40:55] = 1
    segment_id = write_segment(segmentation, volume_node, mask, "TI")
    nodes_before = slicer_scene.scene.GetNumberOfNodes()
    plain = render_slice(volume_node, size=128)
    overlay = render_slice(volume_node, tmp_path / "overlay.png", saliency_node, segmentation, segment_id, size=128)
    assert (tmp_path / "overlay.png").stat().st_size > 0
    assert slicer_scene.scene.GetNumberOfNodes() == nodes_before
    changed = np.abs(overlay[..., :3].astype(int) - plain[..., :3].astype(int)).sum(-1) > 30
    assert changed.mean() > 0.05  # heat map and outline visible
    warm = (overlay[..., 0].astype(int) - overlay[..., 2].astype(int)) > 40
    assert warm.any()
