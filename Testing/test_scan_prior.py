"""Known answers for the prior fitted to the scan in hand (inference/scan_prior.py): the probe learns the segment's
tissue from the embeddings, and the other limbs that clicks outside the segment point at join it only where clicks
confirm them on slices the segment holds no click. The decoder is test_click_carrying.py's stand-in."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from SPDSegmentLib.inference.click_carrying import ClickCarrying
from SPDSegmentLib.inference.scan_prior import LimbRules, fit_scan_probe, limbs_the_clicks_point_at
from test_click_carrying import LEFT, RIGHT, ObjectDecoder, clicks, cylinder, image_of, two_limbs


def test_the_probe_scores_the_segments_tissue_high_where_the_segment_is_not_and_other_tissue_low():
    """Cells of one tissue on the left (the segment) and on the right (another limb, outside the segment), and
    background: the probe fitted to the left scores the right limb over 0.5 and the background under it, the same on
    every call, and leaves the caller's random state as it was."""
    generator = torch.Generator().manual_seed(1)
    tissue, background = torch.randn(8, generator=generator), torch.randn(8, generator=generator)
    embeddings = background[None, :, None, None] + 0.3 * torch.randn(3, 8, 16, 16, generator=generator)
    left, right = torch.zeros(16, 16, dtype=torch.bool), torch.zeros(16, 16, dtype=torch.bool)
    left[4:8, 2:6], right[4:8, 10:14] = True, True
    embeddings[:, :, left | right] += (tissue - background)[None, :, None]
    cover = left[None].expand(3, 16, 16).float()
    state = torch.random.get_rng_state()
    scores = fit_scan_probe(embeddings, cover)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert scores.shape == (3, 1, 16, 16)
    assert (scores[:, 0][:, right] > 0.5).float().mean() > 0.95
    assert (scores[:, 0][:, ~(left | right)] < 0.5).float().mean() > 0.95
    assert torch.equal(scores, fit_scan_probe(embeddings, cover))


@pytest.mark.cuda
def test_the_probe_fits_on_the_embeddings_device_and_scores_as_on_the_cpu():
    """Embeddings cached on a GPU: the probe fits there (no tensor left on the CPU) and scores as on the CPU."""
    generator = torch.Generator().manual_seed(2)
    embeddings = torch.randn(2, 8, 16, 16, generator=generator)
    cover = torch.zeros(2, 16, 16)
    cover[:, 4:8, 2:6] = 1.0
    embeddings[:, :, 4:8, 2:6] += 2.0
    on_gpu = fit_scan_probe(embeddings.cuda(), cover)
    assert on_gpu.is_cuda
    assert torch.allclose(on_gpu.cpu(), fit_scan_probe(embeddings, cover), atol=1e-3)


def limb_clicks(on_right: dict[int, bool]) -> tuple:
    """One click a slice on slices 3..12, on the left limb unless ``on_right`` says the right; the segment is the
    left limb, the probe scores both limbs 1 and the rest 0."""
    objects = two_limbs()
    rows = [(t, *(RIGHT if on_right.get(t) else LEFT)) for t in range(3, 13)]
    return objects, cylinder(3, 12, centre=LEFT), objects.astype(np.float32), rows


def run(objects, segment, scores, rows):
    return limbs_the_clicks_point_at(segment, scores, image_of(objects), ObjectDecoder(objects), clicks(rows),
                                     8.0, 0, 19, ClickCarrying())


def test_a_limb_clicked_on_two_slices_the_segment_holds_no_click_joins_it_whole():
    objects, segment, scores, rows = limb_clicks({5: True, 8: True})
    found = run(objects, segment, scores, rows)
    assert found.joined == 1 and found.gained == []
    assert np.array_equal(found.masks, objects)


def test_a_limb_clicked_on_one_slice_only_does_not_join():
    objects, segment, scores, rows = limb_clicks({5: True})
    found = run(objects, segment, scores, rows)
    assert found.joined == 0 and np.array_equal(found.masks, segment)


def test_a_twin_tissue_whose_clicks_fall_on_slices_the_segment_holds_a_click_does_not_join():
    """Stray clicks on the right limb on slices 5 and 8, whose true click lies in the segment: no limb joins."""
    objects, segment, scores, rows = limb_clicks({})
    rows += [(5, *RIGHT), (8, *RIGHT)]
    found = run(objects, segment, scores, rows)
    assert found.joined == 0 and np.array_equal(found.masks, segment)


def test_clicks_on_a_tissue_the_probe_scores_low_seed_nothing():
    objects, segment, _, rows = limb_clicks({5: True, 8: True})
    scores = cylinder(3, 12, centre=LEFT).astype(np.float32)
    found = run(objects, segment, scores, rows)
    assert found.joined == 0 and np.array_equal(found.masks, segment)


def test_a_limb_on_slices_the_segment_misses_reports_them_gained():
    objects, _, scores, rows = limb_clicks({5: True, 8: True, 11: True, 12: True})
    segment = cylinder(3, 10, centre=LEFT)
    found = run(objects, segment, scores, rows)
    assert found.joined == 1 and found.gained == [11, 12]
    assert np.array_equal(found.masks[3:13], (segment | cylinder(3, 12, centre=RIGHT))[3:13])


def test_a_seed_wider_than_three_median_cross_sections_is_not_carried():
    """The right limb 11 px in radius (3.4 times the left's 6 px cross-section) is another, larger structure of the
    same tissue and does not join; 9 px in radius (2.3 times) it does."""
    for radius, joins in ((11.0, False), (9.0, True)):
        objects = cylinder(3, 12, centre=LEFT) | cylinder(3, 12, radius, centre=RIGHT)
        segment = cylinder(3, 12, centre=LEFT)
        rows = [(t, *(RIGHT if t in (5, 8) else LEFT)) for t in range(3, 13)]
        found = limbs_the_clicks_point_at(segment, objects.astype(np.float32), image_of(objects),
                                          ObjectDecoder(objects), clicks(rows), 14.0, 0, 19, ClickCarrying())
        assert found.joined == int(joins) and np.array_equal(found.masks, objects if joins else segment), radius


def test_a_click_on_a_cell_the_probe_scores_low_seeds_nothing_though_the_region_it_decodes_scores_high():
    """The clicks on the right limb lie on pixels the probe scores 0 (a click just off the tissue), the rest of the
    limb 1: a click must itself lie on the segment's tissue to seed a limb, whatever its box decodes."""
    objects, segment, scores, rows = limb_clicks({5: True, 8: True})
    x, y = (int(c) for c in RIGHT)
    scores[[5, 8], y, x] = 0.0
    found = run(objects, segment, scores, rows)
    assert found.joined == 0 and np.array_equal(found.masks, segment)


def test_a_region_the_decoder_runs_into_the_segment_seeds_no_limb():
    """A loop of the same tissue abutting the segment, clicked on two slices whose segment holds no click: the region
    its clicks decode runs into the segment (one tissue, no edge between them), so it is the segment's surroundings,
    not another limb, and nothing joins."""
    beside = (33.0, 30.0)
    objects = cylinder(3, 12, centre=LEFT) | cylinder(3, 12, centre=beside)
    segment = cylinder(3, 12, centre=LEFT)
    rows = [(t, *(beside if t in (5, 8) else LEFT)) for t in range(3, 13)]
    assert ndimage.label(objects[5])[1] == 1  # the two touch
    found = run(objects, segment, objects.astype(np.float32), rows)
    assert found.joined == 0 and np.array_equal(found.masks, segment)


def test_it_reports_why_seeds_were_refused_and_which_slices_confirm_each_limb():
    """What docs/scan_prior_trials.py prints comes from the engine's own run: the limb clicked on slices 5 and 8, the
    probe scoring slice 5's region low but for the click's pixel, seeds from slice 8 alone, is carried to slice 5 and
    joins on both clicks; with three confirmations asked for it is carried and reported, and does not join."""
    objects, segment, scores, rows = limb_clicks({5: True, 8: True})
    x, y = (int(c) for c in RIGHT)
    scores[5] = segment[5]
    scores[5, y, x] = 1.0
    found = run(objects, segment, scores, rows)
    assert found.scored == 2 and found.refused == {"empty": 0, "larger than the cap": 0, "touching the segment": 0,
                                                   "scored low": 1}
    assert list(found.confirming.values()) == [{5, 8}] and found.joined_labels == list(found.confirming)
    assert np.array_equal(found.limbs > 0, objects & ~segment)
    strict = limbs_the_clicks_point_at(segment, scores, image_of(objects), ObjectDecoder(objects), clicks(rows), 8.0,
                                       0, 19, ClickCarrying(), LimbRules(confirmations=3))
    assert strict.joined == 0 and strict.joined_labels == [] and strict.confirming == found.confirming
    assert np.array_equal(strict.masks, segment)


def test_counting_every_slice_lets_a_twin_whose_clicks_share_slices_with_the_segment_join():
    """The rule that only slices whose click the segment does not hold count is what keeps the twin out: counted on
    every slice (``exclusive=False``) the same twin joins."""
    objects, segment, scores, rows = limb_clicks({})
    rows += [(5, *RIGHT), (8, *RIGHT)]
    found = limbs_the_clicks_point_at(segment, scores, image_of(objects), ObjectDecoder(objects), clicks(rows), 8.0,
                                      0, 19, ClickCarrying(), LimbRules(exclusive=False))
    assert found.joined == 1 and np.array_equal(found.masks, objects)
