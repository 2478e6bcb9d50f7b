"""Metrics against independent computations and known answers; the losses' stated values."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from SPDSegmentLib.training.losses import dice_loss, focal_loss, psc_loss
from SPDSegmentLib.inference.metrics import (compute_assd, compute_dice, compute_hd95, compute_iou, mean_sd,
                                             paired_wilcoxon, volume_and_slice_metrics)


def ball(shape, centre, radius, spacing):
    grid = np.indices(shape).astype(float)
    distance = sum(((grid[a] - centre[a]) * spacing[a]) ** 2 for a in range(3))
    return distance <= radius ** 2


def brute_force_surface_distances(a, b, spacing):
    from scipy import ndimage

    def surface(m):
        return np.argwhere(m & ~ndimage.binary_erosion(m, ndimage.generate_binary_structure(3, 1))) * spacing
    sa, sb = surface(a), surface(b)
    d = cdist(sa, sb)
    return d.min(1), d.min(0)


def test_dice_and_iou_of_known_overlaps():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:5] = True
    b[2:6, 0:5] = True
    assert compute_dice(a, b) == pytest.approx(2 * 10 / 40)
    assert compute_iou(a, b) == pytest.approx(10 / 30)
    assert np.isnan(compute_dice(np.zeros(3), np.zeros(3)))


def test_hd95_and_assd_match_brute_force_with_anisotropic_spacing():
    spacing = np.array([3.0, 0.8, 1.2])
    a = ball((14, 40, 32), (7, 20, 15), 8.0, spacing)
    b = ball((14, 40, 32), (7, 23, 16), 7.0, spacing)
    forward, backward = brute_force_surface_distances(a, b, spacing)
    assert compute_hd95(a, b, spacing) == pytest.approx(max(np.percentile(forward, 95), np.percentile(backward, 95)))
    assert compute_assd(a, b, spacing) == pytest.approx(np.concatenate([forward, backward]).mean())


def test_one_voxel_diagonal_shift_of_a_single_voxel_is_sqrt3():
    a = np.zeros((5, 5, 5), bool)
    b = np.zeros((5, 5, 5), bool)
    a[2, 2, 2] = True
    b[3, 3, 3] = True
    assert compute_hd95(a, b, (1.0, 1.0, 1.0)) == pytest.approx(np.sqrt(3))


def test_per_slice_metrics_cover_slices_with_either_mask():
    pred = np.zeros((4, 8, 8), bool)
    ref = np.zeros((4, 8, 8), bool)
    pred[1, 2:5, 2:5] = True
    ref[1:3, 2:5, 2:5] = True
    result = volume_and_slice_metrics(pred, ref, (1.0, 1.0, 2.0), axis=2)
    assert [s["slice"] for s in result["slices"]] == [1, 2]
    assert result["slices"][0]["dsc"] == 1.0 and result["slices"][1]["dsc"] == 0.0
    assert result["volume"]["dsc"] == pytest.approx(2 * 9 / 27)


def test_wilcoxon_detects_a_consistent_difference():
    rng = np.random.default_rng(0)
    a = rng.random(20)
    assert paired_wilcoxon(a + 0.1, a) < 0.001
    assert paired_wilcoxon(a, a) == 1.0


def test_one_voxel_against_nothing_is_zero_overlap_and_undefined_distance():
    one, empty = np.zeros((3, 3, 3), bool), np.zeros((3, 3, 3), bool)
    one[1, 1, 1] = True
    assert compute_dice(one, empty) == 0.0 and compute_iou(empty, one) == 0.0
    for metric in (compute_hd95, compute_assd):
        assert np.isnan(metric(one, empty, (1.0, 1.0, 1.0))) and np.isnan(metric(empty, one, (1.0, 1.0, 1.0)))


def test_surfaces_reach_the_edge_of_the_volume():
    """A mask touching the array's edge has a surface there (the outside counts as background)."""
    full = np.ones((3, 6, 6), bool)
    inner = np.zeros((3, 6, 6), bool)
    inner[:, 1:5, 1:5] = True
    # every surface voxel of `full` is on the array's edge; the farthest (a corner column) is sqrt(2) from `inner`
    assert compute_hd95(full, inner, (1.0, 1.0, 1.0)) == pytest.approx(np.sqrt(2))
    assert compute_assd(full, full, (1.0, 1.0, 1.0)) == 0.0


def test_hd95_takes_the_larger_direction_whichever_mask_comes_first():
    spacing = np.array([2.0, 1.0, 1.0])
    small = ball((12, 40, 40), (6, 20, 20), 6.0, spacing)
    large = ball((12, 40, 40), (6, 20, 20), 6.0, spacing)
    large[:, 20:, 18:23] |= ball((12, 40, 40), (6, 30, 20), 12.0, spacing)[:, 20:, 18:23]
    forward, backward = brute_force_surface_distances(small, large, spacing)
    expected = max(np.percentile(forward, 95), np.percentile(backward, 95))
    assert np.percentile(forward, 95) != pytest.approx(np.percentile(backward, 95))
    assert compute_hd95(small, large, spacing) == pytest.approx(expected)
    assert compute_hd95(large, small, spacing) == pytest.approx(expected)
    assert compute_hd95(small, large, spacing) != pytest.approx(max(np.percentile(forward, 94),
                                                                    np.percentile(backward, 94)))


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_per_slice_distances_use_the_in_plane_spacing_of_the_slicing_axis(axis):
    spacing_ijk = (0.5, 2.0, 4.0)
    pred = np.zeros((5, 5, 5), bool)
    ref = np.zeros((5, 5, 5), bool)
    pred[2, 2, 2] = True
    ref[3, 3, 3] = True  # one voxel further along every axis
    pred[3, 2, 2] = True  # the two share slice 3 (K) ...
    pred[2, 3, 2] = pred[2, 2, 3] = True  # ... and slice 3 along J and I
    result = volume_and_slice_metrics(pred, ref, spacing_ijk, axis=axis)
    in_plane = [s for a, s in enumerate(spacing_ijk) if a != axis]
    shared = next(s for s in result["slices"] if s["slice"] == 3)
    # on slice 3 the predicted voxel sits one pixel off in both in-plane axes
    assert shared["hd95_mm"] == pytest.approx(np.hypot(*in_plane))


def test_per_slice_metrics_slice_along_k_unless_told():
    pred = np.zeros((3, 4, 4), bool)
    pred[1, 1:3, 1:3] = True
    assert [s["slice"] for s in volume_and_slice_metrics(pred, pred, (1.0, 1.0, 1.0))["slices"]] == [1]


def test_wilcoxon_drops_pairs_with_a_missing_side_and_needs_a_pair():
    a = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    b = a + np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2])
    with_gaps_a, with_gaps_b = np.r_[a, np.nan, 5.0], np.r_[b, 3.0, np.nan]
    assert paired_wilcoxon(a, b) < 0.01
    assert paired_wilcoxon(with_gaps_a, with_gaps_b) == pytest.approx(paired_wilcoxon(a, b))
    assert np.isnan(paired_wilcoxon([np.nan], [1.0])) and paired_wilcoxon([0.3], [0.3]) == 1.0


def test_mean_and_sd_skip_missing_runs():
    assert mean_sd([1.0, None, 2.0, float("nan"), 3.0]) == (2.0, 1.0)
    assert mean_sd([5.0]) == (5.0, 0.0)
    assert mean_sd([1.0, 3.0]) == pytest.approx((2.0, np.sqrt(2.0)))
    assert all(np.isnan(v) for v in mean_sd([None, float("nan")]))


def test_psc_is_zero_for_identical_one_for_disjoint_and_zero_for_empty_masks():
    same = torch.zeros(2, 1, 4, 4)
    same[:, :, :2] = 1
    assert float(psc_loss(same)) == pytest.approx(0.0)
    disjoint = torch.zeros(2, 1, 4, 4)
    disjoint[0, :, :2] = 1
    disjoint[1, :, 2:] = 1
    assert float(psc_loss(disjoint)) == pytest.approx(1.0)
    assert float(psc_loss(torch.zeros(3, 1, 4, 4))) == 0.0


def test_psc_pairs_choose_which_slice_is_pulled():
    probs = torch.rand(3, 1, 4, 4, requires_grad=True)
    psc_loss(probs, "next").backward()
    assert probs.grad[-1].abs().sum() == 0 and probs.grad[0].abs().sum() > 0
    probs.grad = None
    psc_loss(probs, "previous").backward()
    assert probs.grad[0].abs().sum() == 0 and probs.grad[-1].abs().sum() > 0


def test_focal_with_gamma_zero_and_no_alpha_is_bce_and_dice_loss_of_perfect_logits_is_zero():
    logits = torch.randn(2, 1, 5, 5)
    target = (torch.rand(2, 1, 5, 5) > 0.5).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    assert float(focal_loss(logits, target, gamma=0.0, alpha=None)) == pytest.approx(float(bce), rel=1e-5)
    assert float(dice_loss(target * 40 - 20, target)) == pytest.approx(0.0, abs=1e-4)


def test_dice_loss_averages_the_per_item_losses_of_a_batch_with_eps_one():
    logits = torch.zeros(2, 1, 2, 2)  # probabilities 0.5 everywhere
    target = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]).reshape(2, 1, 2, 2)
    # item 0: 1 - (2 * 1 + 1) / (2 + 2 + 1) = 0.4; item 1: 1 - (0 + 1) / (2 + 0 + 1) = 2/3
    assert float(dice_loss(logits, target)) == pytest.approx((0.4 + 2.0 / 3.0) / 2.0)
    assert float(dice_loss(logits[:1], target[:1], eps=0.0)) == pytest.approx(0.5)


def test_focal_loss_weights_hard_pixels_by_gamma_two_and_positives_by_alpha():
    import math

    logits = torch.tensor([0.0, 0.0, 2.0, -1.0]).reshape(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 1.0, 1.0]).reshape(1, 1, 2, 2)
    expected = []
    for z, y in zip([0.0, 0.0, 2.0, -1.0], [1.0, 0.0, 1.0, 1.0]):
        p = 1.0 / (1.0 + math.exp(-z))
        p_t = p if y else 1.0 - p
        expected.append((1.0 - p_t) ** 2 * -math.log(p_t) * (0.25 if y else 0.75))
    assert float(focal_loss(logits, target)) == pytest.approx(sum(expected) / 4.0, rel=1e-5)
    assert float(focal_loss(logits[..., :1, :1], target[..., :1, :1])) == pytest.approx(0.0625 * math.log(2.0))


def test_segmentation_loss_weighs_dice_one_and_focal_twenty():
    from SPDSegmentLib.training.losses import segmentation_loss

    logits = torch.tensor([0.5, -1.5, 2.0, 0.0]).reshape(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0]).reshape(1, 1, 2, 2)
    dice, focal = float(dice_loss(logits, target)), float(focal_loss(logits, target))
    assert float(segmentation_loss(logits, target)) == pytest.approx(dice + 20.0 * focal, rel=1e-6)
    assert float(segmentation_loss(logits, target, 2.0, 3.0)) == pytest.approx(2.0 * dice + 3.0 * focal, rel=1e-6)


def test_psc_of_an_empty_and_a_full_slice_is_one_and_both_pulls_every_slice():
    probs = torch.zeros(2, 1, 2, 2)
    probs[1] = 1.0
    assert float(psc_loss(probs)) == pytest.approx(1.0)
    single = probs[1:].clone().requires_grad_(True)  # one full slice: no pair, so no loss and no pull
    loss = psc_loss(single, "both")
    loss.backward()
    assert loss.item() == 0.0 and single.grad.abs().sum() == 0
    three = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.5, 0.5, 0.0], [0.0, 0.0, 1.0, 1.0]]).reshape(3, 1, 2, 2)
    three.requires_grad_(True)
    loss = psc_loss(three, "both")
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert all(three.grad[t].abs().sum() > 0 for t in range(3))
    with pytest.raises(ValueError, match="next, previous or both"):
        psc_loss(three, "all")


def test_psc_counts_a_tiny_but_non_empty_pair_and_skips_a_pair_up_to_eps():
    probs = torch.zeros(2, 1, 1, 2)
    probs[0, 0, 0, 0] = 1e-3
    assert float(psc_loss(probs)) == pytest.approx(1.0)
    assert float(psc_loss(probs, eps=1e-2)) == 0.0
    probs[0, 0, 0, 0] = 0.25  # exactly eps (0.25 is exact in float32): still skipped
    assert float(psc_loss(probs, eps=0.25)) == 0.0
    assert float(psc_loss(probs, eps=0.125)) == pytest.approx(1.0)
