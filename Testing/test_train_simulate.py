"""A tiny real training run (loss falls, resumes), the case list, and the seeded prompt simulators."""

import json

import numpy as np
import pytest
import torch

from SPDSegmentLib.training.dataset import read_case_list
from SPDSegmentLib.errors import InputError
from SPDSegmentLib.inference.io import read_label_mask, read_volume
from SPDSegmentLib.inference.model import read_adapter
from SPDSegmentLib.training.simulate import CenterlineNoise, simulate_clinician_centerline, simulate_noisy_points
from SPDSegmentLib.inference.slices import ijk_to_slice_points, to_stack
from SPDSegmentLib.training.synthetic import generate_case
from SPDSegmentLib.training.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def case_list(mr_crop, tmp_path_factory):
    image, label, value = mr_crop
    path = tmp_path_factory.mktemp("cases") / "cases.json"
    path.write_text(json.dumps([{"image": str(image), "label": str(label), "label_value": value}]), encoding="utf-8")
    return path


def test_stage1_loss_falls_on_a_real_case(case_list, tmp_path):
    config = TrainConfig(stage1_steps=8, stage2_steps=0, batch_slices=2, lr=3e-3, augment=False, seed=1,
                         checkpoint_every=100, device="cpu")
    trainer = Trainer(read_case_list(case_list), config, tmp_path)
    trainer.run()
    losses = [h["loss"] for h in trainer.history]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert (tmp_path / "adapter.safetensors").is_file() and (tmp_path / "train_log.json").is_file()
    # without stage 2 the decoder is LiteMedSAM's own, which was trained on boxes
    assert read_adapter(tmp_path / "adapter.safetensors")[0].prompt_mode == "boxes"


def test_sam_tuning_trains_the_decoder_on_raw_prompts_and_resumes(case_list, tmp_path):
    config = TrainConfig(variant="sam_tuning", stage2_steps=2, window=2, prompts="noise", checkpoint_every=1,
                         device="cpu")
    Trainer(read_case_list(case_list), config, tmp_path).run()
    assert all(h["loss"] is not None for h in json.loads((tmp_path / "train_log.json").read_text(encoding="utf-8"))["history"])
    longer = Trainer(read_case_list(case_list), TrainConfig(**{**config.__dict__, "stage2_steps": 3}), tmp_path)
    steps_run = []
    original_step = longer.stage2_step
    longer.stage2_step = lambda optimizer: steps_run.append(1) or original_step(optimizer)
    longer.run()
    assert len(steps_run) == 1  # only the missing third step ran
    assert [h["step"] for h in longer.history] == [1, 2, 3]


def test_case_list_csv_resolves_relative_paths_and_rejects_missing_columns(tmp_path):
    (tmp_path / "cases.csv").write_text("image,label,label_value\nimg.nii.gz,lab.nii.gz,13\n", encoding="utf-8")
    [spec] = read_case_list(tmp_path / "cases.csv")
    assert spec.image == tmp_path / "img.nii.gz" and spec.label_value == 13
    (tmp_path / "bad.json").write_text(json.dumps([{"image": "x"}]), encoding="utf-8")
    with pytest.raises(InputError, match="case 1 label is None, expected a file path"):
        read_case_list(tmp_path / "bad.json")


def test_noisy_points_protocol_is_seeded_with_one_true_positive_per_slice(mr_crop):
    image, label, value = mr_crop
    volume = read_volume(image)
    mask = read_label_mask(label, value, volume)
    a = simulate_noisy_points(mask, 2, seed=4)
    assert np.array_equal(a.xy, simulate_noisy_points(mask, 2, seed=4).xy)
    assert not np.array_equal(a.xy, simulate_noisy_points(mask, 2, seed=5).xy)
    stack = to_stack(mask, 2)
    for t in a.slices:
        points = a.on_slice(t)
        assert 3 <= len(points) <= 6
        x, y = points[0].astype(int)
        assert stack[t, y, x]


def test_clinician_centerline_is_the_same_whichever_order_the_sort_gives_equal_distances(monkeypatch):
    # numpy's default sort orders ties by the SIMD instructions of the CPU; pixels at equal distances from the
    # true centre are many, so the drifted points must not depend on that order
    case = generate_case(2026)
    noise = CenterlineNoise(1.0, (3, 12), 0.0, 0.0, (4, 4))
    here = simulate_clinician_centerline(case.label_kji, case.volume, 2, seed=0, noise=noise,
                                         neighbour_kji=case.neighbours_kji)
    numpy_argsort = np.argsort

    def ties_reversed(values, axis=-1, kind=None, order=None, **kwargs):
        if kind == "stable":
            return numpy_argsort(values, axis=axis, kind=kind, order=order, **kwargs)
        values = np.asarray(values)
        return len(values) - 1 - numpy_argsort(values[::-1], kind="stable")

    distances = np.array([2.0, 1.0, 1.0, 1.0])
    assert not np.array_equal(ties_reversed(distances), numpy_argsort(distances, kind="stable"))
    monkeypatch.setattr(np, "argsort", ties_reversed)
    elsewhere = simulate_clinician_centerline(case.label_kji, case.volume, 2, seed=0, noise=noise,
                                              neighbour_kji=case.neighbours_kji)
    assert np.array_equal(here, elsewhere)


def test_clinician_centerline_drifts_off_target_only_where_told(mr_crop):
    image, label, value = mr_crop
    volume = read_volume(image)
    mask = read_label_mask(label, value, volume)
    stack = to_stack(mask, 2)

    def on_target(curve):
        t, xy = ijk_to_slice_points(volume.lps_to_ijk(curve), 2)
        return [bool(stack[int(round(s)), int(round(p[1])), int(round(p[0]))]) for s, p in zip(t, xy)]

    clean = simulate_clinician_centerline(mask, volume, 2, seed=0, noise=CenterlineNoise(0.0, (8, 25), 0.0, 0.0))
    assert all(on_target(clean)) and len(clean) == len(np.unique(np.nonzero(stack)[0]))
    drifting = simulate_clinician_centerline(mask, volume, 2, seed=0,
                                             noise=CenterlineNoise(1.0, (8, 25), 0.0, 0.0, (4, 4)))
    assert not any(on_target(drifting))


def test_cached_embeddings_encode_each_slice_once_and_need_a_frozen_encoder(case_list, tmp_path):
    config = TrainConfig(lora_rank=0, cache_embeddings=True, stage1_steps=4, stage2_steps=2, batch_slices=2,
                         window=2, prompts="noise", device="cpu", checkpoint_every=100)
    trainer = Trainer(read_case_list(case_list), config, tmp_path)
    encoded = []
    original = trainer._encode
    trainer._encode = lambda frame, images: encoded.append(len(images)) or original(frame, images)
    trainer.run()
    assert 0 < sum(encoded) <= len(trainer.cases[0].stack)
    # with a cache folder a second run (another variant, say) encodes nothing it already has
    shared = TrainConfig(**{**config.__dict__, "cache_dir": str(tmp_path / "cache")})
    first = Trainer(read_case_list(case_list), shared, tmp_path / "first")
    first.run()
    second = Trainer(read_case_list(case_list), TrainConfig(**{**shared.__dict__, "variant": "cpd"}), tmp_path / "second")
    second._encode = lambda frame, images: pytest.fail("re-encoded a cached slice")
    second._embeddings(0, np.array(sorted(first._embedding_cache[0])), None)
    with pytest.raises(ValueError, match="lora_rank=0"):
        Trainer(read_case_list(case_list), TrainConfig(cache_embeddings=True, device="cpu"), tmp_path / "other")


def test_a_ct_window_trains_on_windowed_ct_and_the_adapter_keeps_it(ct_crop, tmp_path, capsys):
    from SPDSegmentLib.cli import main
    from SPDSegmentLib.inference.slices import IntensityScaling

    image, label, value = ct_crop
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([{"image": str(image), "label": str(label), "label_value": value}]), encoding="utf-8")
    config = TrainConfig(lora_rank=0, cache_embeddings=True, cache_dir=str(tmp_path / "cache"), stage1_steps=1,
                         stage2_steps=0, batch_slices=2, device="cpu", ct_window=(40.0, 400.0))
    trainer = Trainer(read_case_list(cases), config, tmp_path / "windowed")
    case = trainer.cases[0]
    assert np.array_equal(case.stack, to_stack(IntensityScaling(ct_window=(40.0, 400.0)).scale(case.volume.array_kji),
                                               case.axis))
    unwindowed = Trainer(read_case_list(cases), TrainConfig(**{**config.__dict__, "ct_window": None}), tmp_path / "no")
    assert not np.array_equal(unwindowed.cases[0].stack, case.stack)
    assert trainer._cache_file(0) != unwindowed._cache_file(0)  # embeddings of one scaling never serve the other
    trainer.run()
    assert read_adapter(tmp_path / "windowed" / "adapter.safetensors")[0].ct_window == (40.0, 400.0)
    capsys.readouterr()
    assert main(["train", "--data", str(cases), "--out", str(tmp_path / "bad"), "--ct-window", "40", "0",
                 "--device", "cpu"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--ct-window 40 0" in error and "--ct-window 40 400" in error
    assert not (tmp_path / "bad" / "adapter.safetensors").exists()


def test_synthesize_writes_a_case_list_that_loads(tmp_path, capsys):
    from SPDSegmentLib.cli import main
    from SPDSegmentLib.training.dataset import load_case

    assert main(["synthesize", "--seeds", "3", "4", "--out", str(tmp_path)]) == 0
    specs = read_case_list(tmp_path / "cases.json")
    assert [s.name for s in specs] == ["synthetic-3", "synthetic-4"]
    case = load_case(specs[0])
    assert case.target.any() and case.volume.spacing.tolist() == [1.5, 1.5, 3.0]
    assert main(["synthesize", "--seeds", "3", "--out", str(tmp_path)]) == 2  # existing files need --force


def test_same_seed_gives_the_same_initial_model(case_list, tmp_path):
    heads = [Trainer(read_case_list(case_list), TrainConfig(seed=3, device="cpu"), tmp_path / str(i)).model
             .saliency_head.state_dict() for i in range(2)]
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


def test_spd_on_the_vit_b_architecture_trains_lora_both_stages_and_its_adapter_is_refused(case_list, tmp_path):
    """The ViT-B path end to end with random weights (no SAM weights here); such an adapter cannot segment."""
    from SPDSegmentLib.errors import CheckpointError
    from SPDSegmentLib.inference.model import build_model

    config = TrainConfig(backbone="sam_vit_b:random", image_size=64, stage1_steps=2, stage2_steps=2, batch_slices=2,
                         window=2, tau=0.0, checkpoint_every=100, device="cpu")
    with pytest.warns(UserWarning, match="random weights"):
        trainer = Trainer(read_case_list(case_list), config, tmp_path)
    trainer.run()
    adapter_config, tensors = read_adapter(tmp_path / "adapter.safetensors")
    assert adapter_config.backbone == "sam_vit_b" and adapter_config.lora_rank == 4
    assert any(k.startswith("lora.") for k in tensors) and any(k.startswith("saliency_head.") for k in tensors)
    assert [h["stage"] for h in trainer.history].count(2) >= 1
    with pytest.raises(CheckpointError, match="randomly initialised"):
        build_model(str(tmp_path / "adapter.safetensors"))
