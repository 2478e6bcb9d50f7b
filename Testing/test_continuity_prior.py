"""The prior that needs no training: prompts checked against each other, the route choice, fitted boxes.

Hand-built prompts and a hand-made decoder whose answers are known, so every expectation is computed
without the code under test.
"""

import dataclasses

import numpy as np
import pytest

from SPDSegmentLib.errors import InputError
from SPDSegmentLib.inference.box_fitting import (BoxFitting, Candidate, choose_half_size, cluster_points,
                                                 decode_candidates, fill_gaps, grow_by_overlap,
                                                 keep_supported_regions, region_holding)
from SPDSegmentLib.inference.continuity_prior import (CROSS_SECTION_CHECKS, chance_of_a_stray_neighbour,
                                                      combined_closeness, continuity_saliency,
                                                      cross_section_saliency, joined_by_path, prompt_closeness,
                                                      slices_looked_at)
from SPDSegmentLib.inference.cpd import KEPT_LOCAL, REJECTED, CpdConfig, distil_prompts
from SPDSegmentLib.inference.prior_choice import CONTINUITY, LEARNED, RAW, accepted_by, choose_prior, structure_found
from SPDSegmentLib.inference.prompts import Prompts
from stand_ins import SLICE_SHAPE, InscribedDiscDecoder, disc

SHAPE = (12, *SLICE_SHAPE)
SPACING = (2.0, 1.0)  # non-square pixels: x is 2 mm, y is 1 mm


def traced(slices, x=20.0, y=30.0, stray=None):
    """One prompt per slice on a straight structure; ``stray`` = (slice, x, y) adds one elsewhere."""
    rows = [(t, x, y) for t in slices] + ([stray] if stray else [])
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def test_continuity_keeps_a_traced_structure_and_rejects_a_stray_click():
    prompts = traced(range(2, 10), stray=(5, 60.0, 30.0))  # 40 px = 80 mm away in x
    saliency = continuity_saliency(prompts, SHAPE, SPACING, neighbours=2, sigma_mm=10.0)
    assert saliency[5, 30, 20] == pytest.approx(1.0)
    assert saliency[5, 30, 60] < 1e-6
    result = distil_prompts(prompts, saliency, CpdConfig(tau=0.5, neighbours=2))
    statuses = {(int(t), float(x)): s for t, (x, _), s in zip(result.audit.slice_index, result.audit.xy,
                                                             result.audit.status) if s != "kept-neighbour"}
    assert statuses[(5, 60.0)] == REJECTED
    assert all(statuses[(t, 20.0)] == KEPT_LOCAL for t in range(2, 10))


def test_a_prompt_is_vouched_for_by_the_better_side_only_averaged_over_its_n_slices():
    # slice 5 has a prompt 6 mm away (3 px in x at 2 mm) on slice 4 only: one side, half its slices
    prompts = traced([4], x=23.0).__add__(traced([5]))
    saliency = continuity_saliency(prompts, SHAPE, SPACING, neighbours=2, sigma_mm=10.0)
    expected = np.exp(-6.0 ** 2 / (2 * 10.0 ** 2)) / 2  # mean of slices 4 and 3 (nothing there) on the left
    assert saliency[5, 30, 20] == pytest.approx(expected, rel=1e-5)
    # in y, pixels are 1 mm: 6 px away is 6 mm
    far_on_5 = traced([5], x=70.0)  # 100 mm away: it only makes slice 5 part of the traced range
    assert continuity_saliency(traced([4], y=36.0) + far_on_5, SHAPE, SPACING, 2, 10.0)[5, 30, 20] == \
        pytest.approx(expected, rel=1e-5)


def test_prompts_on_and_beyond_the_image_edges_and_the_slices_past_the_structure():
    height, width = SHAPE[1:]
    edges = ((-3.0, height + 2.0), (width + 5.0, 10.0), (40.0, -2.0), (20.0, 30.0))
    rows = [(t, x, y) for t in range(2, 10) for x, y in edges] + [(t, 60.0, 45.0) for t in (0, 1, 10, 11)]
    prompts = Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))
    saliency = continuity_saliency(prompts, SHAPE, SPACING, sigma_mm=10.0)  # n = 2 by default
    # off-image prompts count at the nearest edge pixel
    assert saliency[5, height - 1, 0] == pytest.approx(1.0) and saliency[5, 10, width - 1] == pytest.approx(1.0)
    assert saliency[5, 0, 40] == pytest.approx(1.0)
    # past the last slice (9) of the structure the n = 2 slices before vouch: slice 10 fully, slice 11 by half
    assert saliency[10, 30, 20] == pytest.approx(1.0) and saliency[11, 30, 20] == pytest.approx(0.5)
    # the wider check looks at six prompted slices: slices 9 and 8 vouch for slice 11 fully
    assert continuity_saliency(prompts, SHAPE, SPACING, sigma_mm=10.0, window=3)[11, 30, 20] == pytest.approx(1.0)
    # the first and last slices of the volume get their support like any other
    assert saliency[0, 45, 60] == pytest.approx(0.5, abs=1e-5) and saliency[11, 45, 60] == pytest.approx(0.5, abs=1e-5)
    one = continuity_saliency(prompts, SHAPE, SPACING, neighbours=1)
    assert one[10, 30, 20] == pytest.approx(1.0) and one[11, 30, 20] < 1e-3  # n = 1 reaches one slice past the end
    assert continuity_saliency(prompts, SHAPE, SPACING, neighbours=1, window=3)[11, 30, 20] == pytest.approx(1.0)
    # sigma is 10 mm by default: 5 px at 2 mm in x from the structure is exp(-1/2)
    assert continuity_saliency(traced(range(2, 10)), SHAPE, SPACING)[5, 30, 25] == pytest.approx(np.exp(-0.5))
    # the traced structure ends where the tracing ends: nothing before its first or after its last slice
    inner = continuity_saliency(traced(range(3, 9)), SHAPE, SPACING)
    assert not inner[:3].any() and not inner[9:].any() and inner[3, 30, 20] == pytest.approx(1.0)
    assert inner[8, 30, 20] == pytest.approx(1.0)
    # prompts at the start of the volume lend nothing to its other end
    assert not continuity_saliency(traced([0, 1]), SHAPE, SPACING)[4:].any()
    # n and the window below 1 are taken as 1
    assert np.array_equal(continuity_saliency(prompts, SHAPE, SPACING, neighbours=0),
                          continuity_saliency(prompts, SHAPE, SPACING, neighbours=1))
    assert np.array_equal(continuity_saliency(prompts, SHAPE, SPACING, window=0),
                          continuity_saliency(prompts, SHAPE, SPACING, window=1))


def test_the_ends_of_the_structure_and_the_edges_of_a_gap_keep_their_support():
    prompts = traced([1, 2, 3, 4, 8, 9, 10])  # a gap over 5-7
    saliency = continuity_saliency(prompts, SHAPE, SPACING, neighbours=2, sigma_mm=10.0)
    for t in (1, 4, 8, 10):
        assert saliency[t, 30, 20] == pytest.approx(1.0), t
    # slice 6, inside the gap: the two prompted slices nearest to it on either side (4 and 3, or 8 and 9) vouch
    assert saliency[6, 30, 20] == pytest.approx(1.0)
    one_sided = continuity_saliency(traced([1, 2, 3, 4, 8]), SHAPE, SPACING, neighbours=2, sigma_mm=10.0)
    assert one_sided[8, 30, 20] == pytest.approx(1.0)  # its side before the gap: slices 4 and 3


def test_clicks_every_few_slices_are_checked_against_the_clicked_slices_around_them():
    clicks = traced(range(0, 12, 4), stray=(4, 60.0, 30.0))  # slices 0, 4, 8 and a stray click on 4
    saliency = continuity_saliency(clicks, SHAPE, SPACING, neighbours=2, sigma_mm=10.0)
    assert saliency[8, 30, 20] == pytest.approx(1.0) and saliency[0, 30, 20] == pytest.approx(1.0)
    assert saliency[4, 30, 20] == pytest.approx(0.5)  # one clicked slice on each side: half of n = 2
    assert saliency[4, 30, 60] < 1e-6
    every_fourth = traced(range(0, 12, 4)) + traced([11])
    audit = distil_prompts(every_fourth, continuity_saliency(every_fourth, SHAPE, SPACING), CpdConfig()).audit
    assert sorted(audit.slice_index[audit.status == KEPT_LOCAL].tolist()) == [0, 4, 8, 11]
    # a skip longer than ``reach`` ends the side: with reach 3, slices 4 apart vouch for nothing
    assert not continuity_saliency(every_fourth, SHAPE, SPACING, reach=3)[[0, 4]].any()
    # each vouching slice must lie within reach of the one before it, not only of t
    chain = traced([0, 5, 9])
    assert continuity_saliency(chain, SHAPE, SPACING, reach=4)[9, 30, 20] == pytest.approx(0.5)  # 5, then 0 is 5 off
    assert continuity_saliency(chain, SHAPE, SPACING, reach=5)[9, 30, 20] == pytest.approx(1.0)
    assert continuity_saliency(chain, SHAPE, SPACING)[9, 30, 20] == pytest.approx(1.0)  # reach 7 by default
    # reach 7 by default: slices 7 apart vouch, 8 apart do not
    assert continuity_saliency(traced([0, 7]), SHAPE, SPACING)[7, 30, 20] == pytest.approx(0.5)
    assert not continuity_saliency(traced([0, 8]), SHAPE, SPACING)[8].any()
    assert np.array_equal(continuity_saliency(traced([0, 1, 2]), SHAPE, SPACING, reach=0),
                          continuity_saliency(traced([0, 1, 2]), SHAPE, SPACING, reach=1))  # reach 0 is taken as 1
    # reach 1 (the least) lets only the next slice vouch: clicks every other slice get nothing from each other
    assert not continuity_saliency(traced([0, 2, 4]), SHAPE, SPACING, reach=1)[4].any()
    assert continuity_saliency(traced([0, 2, 4]), SHAPE, SPACING, reach=2)[4, 30, 20] == pytest.approx(1.0)


def test_the_slices_looked_at_are_n_times_the_window_with_n_and_the_window_at_least_one():
    # the run's notice names this count; n = 0 (CPD's local validation only) is checked with n = 1, as the map is
    assert [slices_looked_at(n, window) for n, window in ((2, 3), (0, 3), (2, 0), (0, 0), (3, 1))] == [6, 3, 2, 1, 3]


def test_the_wider_check_sums_the_n_closest_of_the_m_slices_on_the_better_side():
    # one prompt per slice, each elsewhere, so every pixel of slice 6 sees six different closeness values per side
    xs = {0: 10.0, 1: 70.0, 2: 25.0, 3: 55.0, 4: 40.0, 5: 15.0, 7: 65.0, 8: 30.0, 9: 50.0, 10: 20.0, 11: 60.0}
    prompts = Prompts(np.array(list(xs)), np.array([(x, 10.0 + 4 * t) for t, x in xs.items()]), np.ones(len(xs), bool))
    sigma, n, t = 10.0, 2, 6
    ys, xx = np.mgrid[0:SHAPE[1], 0:SHAPE[2]]

    def closeness(j):  # one prompt on slice j: the distance to it, in mm, by hand
        x, y = prompts.xy[prompts.slice_index == j][0]
        return np.exp(-(((xx - x) * SPACING[0]) ** 2 + ((ys - y) * SPACING[1]) ** 2) / (2 * sigma ** 2))

    before = np.sort([closeness(j) for j in (5, 4, 3, 2, 1, 0)], axis=0)[-n:].sum(axis=0) / n
    after = np.sort([closeness(j) for j in (7, 8, 9, 10, 11)], axis=0)[-n:].sum(axis=0) / n
    saliency = continuity_saliency(prompts, SHAPE, SPACING, neighbours=n, sigma_mm=sigma, window=3)
    np.testing.assert_allclose(saliency[t], np.maximum(before, after), atol=1e-5)


def test_the_prior_combines_whatever_closeness_each_prompted_slice_is_given():
    # a trial may raise a slice's closeness (inside a click's cross-section, say); the combination takes it as given
    prompts = traced((2, 4), x=20.0, y=30.0)
    closeness = prompt_closeness(prompts, SHAPE[1:], SPACING)
    assert sorted(closeness) == [2, 4] and closeness[2][30, 20] == 1.0
    assert closeness[2][30, 25] == pytest.approx(np.exp(-(5 * SPACING[0]) ** 2 / (2 * 10.0 ** 2)))
    closeness[4][40:50, 60:70] = 1.0  # far from the prompt: about 0 before
    saliency = combined_closeness(closeness, SHAPE, neighbours=1)
    # slice 3 takes the better side's one slice, slices 2 and 4 each the other's (none vouches for itself); nothing
    # outside 2-4
    assert saliency[3, 45, 65] == 1.0 and saliency[2, 45, 65] == 1.0 and saliency[4, 45, 65] < 1e-6
    assert not saliency[[0, 1, 5]].any()
    np.testing.assert_array_equal(combined_closeness(prompt_closeness(prompts, SHAPE[1:], SPACING), SHAPE, 1),
                                  continuity_saliency(prompts, SHAPE, SPACING, neighbours=1))


def test_prompts_on_slices_outside_the_stack_vouch_for_the_slices_inside_it():
    prompts = traced(range(-2, SHAPE[0] + 2))  # two slices before the first and two past the last
    saliency = continuity_saliency(prompts, SHAPE, SPACING)
    assert saliency.shape == SHAPE
    assert saliency[0, 30, 20] == pytest.approx(1.0) and saliency[SHAPE[0] - 1, 30, 20] == pytest.approx(1.0)
    # a structure that starts before the stack and ends inside it lends nothing past its end (nor wraps around)
    early = continuity_saliency(traced(range(-2, 6)), SHAPE, SPACING)
    assert early[5, 30, 20] == pytest.approx(1.0) and not early[6:].any()


def test_clicks_that_hop_between_the_limbs_of_a_structure_pass_the_wider_check_and_a_stray_click_does_not():
    # two limbs on every slice (x = 20 and x = 60, 80 mm apart at 2 mm per px), one click per slice on either
    limb = {0: 20.0, 1: 60.0, 2: 60.0, 3: 20.0, 4: 60.0, 5: 20.0, 6: 60.0, 7: 60.0, 8: 20.0, 9: 20.0, 10: 60.0,
            11: 20.0}
    clicks = Prompts(np.array(list(limb)), np.array([(x, 30.0) for x in limb.values()]), np.ones(len(limb), bool))
    stray = Prompts(np.array([5]), np.array([[40.0, 10.0]]), np.ones(1, bool))  # between the limbs, 40 mm off
    wide = continuity_saliency(clicks + stray, SHAPE, SPACING, neighbours=2, sigma_mm=10.0, window=3)
    # slice 5 (limb x = 20): of the six prompted slices after it, 8 and 9 click the same limb; before it 3 and 0
    assert wide[5, 30, 20] == pytest.approx(1.0)
    # slice 4 (limb x = 60): before it 2 and 1, after it 6 and 7
    assert wide[4, 30, 60] == pytest.approx(1.0)
    assert wide[5, 10, 40] < 0.01
    audit = distil_prompts(clicks + stray, wide, CpdConfig()).audit
    assert audit.status[(audit.slice_index == 5) & (audit.xy[:, 1] == 10.0)].tolist() == [REJECTED]
    assert int((audit.status == KEPT_LOCAL).sum()) == len(limb)
    # the default check needs the two nearest prompted slices of a side: slice 5's click has one before it only
    nearest = continuity_saliency(clicks + stray, SHAPE, SPACING, neighbours=2, sigma_mm=10.0)
    assert nearest[5, 30, 20] == pytest.approx(0.5)
    # m = window x n prompted slices are looked at: slice 3 (x = 20) finds its limb on 0 among the three before
    # it and on 5 among the four after it with m = 4; with m = 6 also on 8 and 9
    assert continuity_saliency(clicks, SHAPE, SPACING, neighbours=2, sigma_mm=10.0, window=2)[3, 30, 20] == \
        pytest.approx(0.5)
    assert wide[3, 30, 20] == pytest.approx(1.0)


# slices wide enough that up to 6 clicks per slice leave chance pairs rare (0.024 stray clicks expected within
# 11.8 mm of a point), and 7 do not (0.028)
WIDE_SLICES = (12, 210, 260)


def two_limbs(extra_per_slice=0):
    """Clicks on limb A (x = 20) on every slice, on limb B (x = 60, 80 mm away) on every third slice as well, a
    stray click on slice 5 between them, and ``extra_per_slice`` more on every slice far from both limbs."""
    rows = [(t, 20.0, 30.0) for t in range(12)] + [(t, 60.0, 30.0) for t in (1, 4, 7, 10)] + [(5, 40.0, 10.0)]
    rows += [(t, 2.0 + 7 * k, 55.0 - 3 * (t % 4)) for t in range(12) for k in range(extra_per_slice)]
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def test_clicks_on_another_cross_section_every_few_slices_pass_the_cross_section_check_and_a_stray_does_not():
    clicks = two_limbs()
    kept = accepted_by(continuity_saliency(clicks, WIDE_SLICES, SPACING, 2, 10.0), clicks, 0.5)
    on_b = clicks.xy[:, 0] == 60.0
    stray = clicks.xy[:, 0] == 40.0
    # the first check keeps limb A only: limb B's clicks have no click of their own limb on the nearest slices
    assert kept[clicks.xy[:, 0] == 20.0].all() and not kept[on_b].any() and not kept[stray].any()
    other = cross_section_saliency(clicks, kept, WIDE_SLICES, SPACING)
    accepted = accepted_by(other, clicks, 0.5)
    # limb B's clicks vouch for each other: slice 4 has 7 and 10 after it (2 of 3), slice 1 has 4, 7 and 10
    assert accepted[on_b].all()
    assert not accepted[stray].any()
    assert not accepted[kept].any()  # the kept ones are not in that map: it is built from the rejected ones


def test_a_curve_that_drifts_is_one_traced_structure_not_another_cross_section():
    # a curve on x = 20 whose slices 4 to 8 drifted 30 px (60 mm) onto another structure, and a second curve
    drifted = np.isin(np.arange(12), [4, 5, 6, 7, 8])
    xy = np.array([(50.0 if d else 20.0, 30.0) for d in drifted])
    curves = Prompts(np.r_[np.arange(12), 0, 1], np.r_[xy, [[70.0, 5.0], [70.0, 5.0]]], np.ones(14, bool),
                     np.r_[np.zeros(12, int), 1, 1])
    kept = np.r_[~drifted, False, False]
    stretch = np.r_[drifted, False, False]
    # its drifted stretch is a detour of the structure the curve traces: the check leaves it out
    assert joined_by_path(curves, kept).tolist() == np.r_[np.ones(12, bool), False, False].tolist()
    assert cross_section_saliency(curves.select(np.r_[np.ones(12, bool), False, False]), kept[:12], SHAPE,
                                  SPACING) is None
    # the same positions clicked are another cross-section, checked among themselves
    clicks = Prompts(curves.slice_index[:12], curves.xy[:12], np.ones(12, bool))
    assert not joined_by_path(clicks, kept[:12]).any()
    other = cross_section_saliency(clicks, kept[:12], WIDE_SLICES, SPACING)
    assert accepted_by(other, clicks, 0.5)[stretch[:12]].all()


def test_with_many_clicks_per_slice_more_slices_must_vouch_for_another_cross_section():

    def limb_b_on(slices, clicks):
        return clicks.select(~((clicks.xy[:, 0] == 60.0) & ~np.isin(clicks.slice_index, slices)))

    def accepted_on_b(clicks):
        kept = accepted_by(continuity_saliency(clicks, WIDE_SLICES, SPACING, 2, 10.0), clicks, 0.5)
        other = cross_section_saliency(clicks, kept, WIDE_SLICES, SPACING)
        return (kept | accepted_by(other, clicks, 0.5))[clicks.xy[:, 0] == 60.0]

    # limb A and 5 more clicks on every slice (6 per slice): limb B's clicks on slices 1 and 7 have 2 others on
    # one side (slice 4's has one on each side)
    assert accepted_on_b(limb_b_on([1, 4, 7], two_limbs(extra_per_slice=5))).tolist() == \
        [True, False, True]
    # one more click per slice: 4 of the 12 nearest must vouch, and 2 are not enough
    crowded = two_limbs(extra_per_slice=6)
    assert not accepted_on_b(limb_b_on([1, 4, 7], crowded)).any()
    # limb B clicked on 7 slices has enough
    every_other = limb_b_on([1, 4, 7], crowded) + Prompts(np.array([0, 2, 6, 8]), np.tile([60.0, 30.0], (4, 1)),
                                                           np.ones(4, bool))
    assert accepted_on_b(every_other).all()


def test_the_chance_of_a_stray_neighbour_is_the_clicks_per_slice_over_the_slice_area():
    # 4 clicks on each of 3 slices and 1 on another: the median is 4; 100 x 100 px of 1 mm
    prompts = Prompts(np.r_[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3], np.zeros((13, 2)), np.ones(13, bool))
    radius_mm = 10.0 * np.sqrt(2 * np.log(2))  # where exp(-d^2 / 2 sigma^2) = 1/2
    assert chance_of_a_stray_neighbour(prompts, (4, 100, 100), (1.0, 1.0)) == \
        pytest.approx(4 * np.pi * radius_mm ** 2 / 1e4)
    assert chance_of_a_stray_neighbour(prompts, (4, 100, 100), (2.0, 0.5)) == \
        pytest.approx(4 * np.pi * radius_mm ** 2 / 1e4)
    assert chance_of_a_stray_neighbour(Prompts.empty(), (4, 100, 100), (1.0, 1.0)) == 0.0
    most = CROSS_SECTION_CHECKS[0][0]
    six, seven = (chance_of_a_stray_neighbour(two_limbs(extra), WIDE_SLICES, SPACING) for extra in (5, 6))
    assert six <= most < seven

def learned_map(accept_slices, at=(30, 20)):
    saliency = np.zeros(SHAPE, np.float32)
    for t in accept_slices:
        saliency[t, at[0], at[1]] = 0.9
    return saliency


def test_auto_overrules_a_learned_prior_that_rejects_the_traced_structure_and_says_why():
    prompts = traced(range(2, 10))
    continuity = continuity_saliency(prompts, SHAPE, SPACING, 2, 10.0)
    choice = choose_prior("auto", learned_map([3]), continuity, prompts, 0.5)
    assert choice.route == CONTINUITY and choice.agreement == pytest.approx(1 / 8)
    assert "overruled" in choice.reason and "1 of the 8 prompts" in choice.reason
    # the one slice where both priors accept a prompt is left to the learned route, and the user is told
    assert choice.agreed_slices == (3,) and "still segments the 1 slice(s)" in choice.reason
    # a learned prior accepting only a stray click (one the continuity prior rejects) agrees nowhere
    stray = traced(range(2, 10), stray=(5, 60.0, 30.0))
    continuity = continuity_saliency(stray, SHAPE, SPACING, 2, 10.0)
    choice = choose_prior("auto", learned_map([5], at=(30, 60)), continuity, stray, 0.5)
    assert choice.route == CONTINUITY and choice.agreed_slices == () and "still segments" not in choice.reason


def test_when_no_prompt_agrees_with_its_neighbours_the_learned_prior_decides_only_if_it_accepts_half():
    clicks = Prompts(np.array([1, 5, 9, 11]), np.array([[10.0, 10.0], [40.0, 40.0], [70.0, 20.0], [20.0, 30.0]]),
                     np.ones(4, bool))
    continuity = continuity_saliency(clicks, SHAPE, SPACING, 2, 10.0)
    assert not distil_prompts(clicks, continuity, CpdConfig()).prompts.slices.size
    rejects = choose_prior("auto", learned_map([]), continuity, clicks, 0.5)
    assert rejects.route == CONTINUITY and rejects.agreement is None
    assert rejects.reason == ("the learned prior was overruled for this volume: it accepted 0 of the 4 prompts "
                              "(it needs 50 %)")
    assert choose_prior("auto", learned_map([11]), continuity, clicks, 0.5).route == CONTINUITY  # 1 of 4
    learned = learned_map([11])
    learned[9, 20, 70] = 0.9  # 2 of 4
    assert choose_prior("auto", learned, continuity, clicks, 0.5) == choose_prior("learned", learned, continuity,
                                                                                  clicks, 0.5)
    learned[5, 40, 40] = 0.9  # 3 of 4
    assert choose_prior("auto", learned, continuity, clicks, 0.5).route == LEARNED


def test_auto_keeps_an_agreeing_learned_prior_and_overrules_it_only_on_slices_it_rejects():
    prompts = traced(range(2, 10))
    continuity = continuity_saliency(prompts, SHAPE, SPACING, 2, 10.0)
    choice = choose_prior("auto", learned_map([2, 3, 4, 5, 6, 8]), continuity, prompts, 0.5)
    assert choice.route == LEARNED and choice.overruled_slices == (7, 9)
    assert "7, 9" in choice.reason


def test_the_overruled_slices_line_lists_eight_and_marks_the_rest():
    shape = (24,) + SHAPE[1:]
    prompts = traced(range(24))
    continuity = continuity_saliency(prompts, shape, SPACING, 2, 10.0)

    def learned(accept):
        saliency = np.zeros(shape, np.float32)
        saliency[list(accept), 30, 20] = 0.9
        return saliency

    eight = choose_prior("auto", learned(range(16)), continuity, prompts, 0.5)
    assert eight.overruled_slices == tuple(range(16, 24)) and eight.reason.endswith("(16, 17, 18, 19, 20, 21, 22, 23)")
    twelve = choose_prior("auto", learned(range(12)), continuity, prompts, 0.5)
    assert len(twelve.overruled_slices) == 12 and twelve.reason.endswith("(12, 13, 14, 15, 16, 17, 18, 19…)")
    nine = choose_prior("auto", learned(range(15)), continuity, prompts, 0.5)
    assert nine.reason.endswith("(15, 16, 17, 18, 19, 20, 21, 22…)")
    three = choose_prior("auto", learned(range(21)), continuity, prompts, 0.5)
    assert three.reason.endswith("(21, 22, 23)")


def test_forced_routes_and_a_model_without_a_learned_prior():
    prompts = traced(range(2, 10))
    continuity = continuity_saliency(prompts, SHAPE, SPACING, 2, 10.0)
    assert choose_prior("learned", learned_map([]), continuity, prompts, 0.5).route == LEARNED
    assert choose_prior("none", learned_map(range(12)), continuity, prompts, 0.5).route == CONTINUITY
    assert choose_prior("raw", None, continuity, prompts, 0.5).route == RAW
    assert choose_prior("auto", None, continuity, prompts, 0.5) == choose_prior("none", None, continuity, prompts, 0.5)
    with pytest.raises(InputError, match="no learned prior"):
        choose_prior("learned", None, continuity, prompts, 0.5)
    # a route read from a command line or a file is a new string: compared by value, not by identity
    assert choose_prior("".join(["r", "aw"]), None, continuity, prompts, 0.5).route == RAW
    assert choose_prior("".join(["lear", "ned"]), learned_map([]), continuity, prompts, 0.5).route == LEARNED
    assert choose_prior("".join(["no", "ne"]), learned_map(range(12)), continuity, prompts, 0.5).route == CONTINUITY
    with pytest.raises(dataclasses.FrozenInstanceError):
        choose_prior("raw", None, continuity, prompts, 0.5).route = LEARNED


def test_scattered_clicks_are_not_a_structure():
    clicks = Prompts(np.array([1, 5, 9]), np.array([[10.0, 10.0], [40.0, 40.0], [70.0, 20.0]]), np.ones(3, bool))
    continuity = continuity_saliency(clicks, SHAPE, SPACING, 2, 10.0)
    kept = distil_prompts(clicks, continuity, CpdConfig()).prompts
    assert len(kept) == 0 and not structure_found(kept, clicks)
    prompts = traced(range(2, 10))
    kept = distil_prompts(prompts, continuity_saliency(prompts, SHAPE, SPACING, 2, 10.0), CpdConfig()).prompts
    assert structure_found(kept, prompts)


class DiscDecoder:
    """A stand-in decoder over a volume holding one disc of radius ``radius`` px per slice at ``centre``:
    a box covers the disc -> the disc, predicted IoU 0.9; a box inside it -> the box's inscribed disc, IoU
    0.5 (a part); a box that also covers ``neighbour`` (a bigger organ, 30 px off) -> disc and organ, IoU 0.8."""

    def __init__(self, radius=6.0, centre=(20.0, 30.0), neighbour=(50.0, 30.0)):
        self.radius, self.centre, self.neighbour = radius, np.array(centre), np.array(neighbour)
        self.calls = []

    @staticmethod
    def disc(centre, radius):
        return disc(centre, radius)

    def __call__(self, slices, boxes):
        self.calls.append(len(slices))
        decoded, iou = [], []
        for box in boxes:
            covers = box[0] <= self.centre[0] - self.radius and box[2] >= self.centre[0] + self.radius
            if covers and box[2] >= self.neighbour[0]:
                mask, quality = self.disc(self.centre, self.radius) | self.disc(self.neighbour, 10), 0.8
            elif covers:
                mask, quality = self.disc(self.centre, self.radius), 0.9
            else:
                half = (box[2] - box[0]) / 2
                mask, quality = self.disc((box[:2] + box[2:]) / 2, half), 0.5
            decoded.append(mask)
            iou.append(quality)
        return np.array(decoded), np.array(iou)


def test_the_box_size_is_the_smallest_that_holds_the_structure():
    decoder = DiscDecoder(radius=6.0)
    candidates = [Candidate(t, np.array([[20.0, 30.0]])) for t in range(2, 10)]
    # half-sizes 2, 4, 8, 40 px: 8 covers the disc (0.9), 40 also takes the neighbour (0.8)
    fitting = BoxFitting(half_sizes_mm=(2.0, 4.0, 8.0, 40.0), sample=4, tolerance=0.05)
    half, scores = choose_half_size(candidates, decoder, 1.0, fitting)
    assert half == 8.0 and scores == {2.0: 0.5, 4.0: 0.5, 8.0: 0.9, 40.0: 0.8}
    assert decoder.calls == [4, 4, 4, 4]
    masks = decode_candidates(candidates, decoder, 8.0, SHAPE)
    assert np.array_equal(masks[5], decoder.disc(decoder.centre, 6.0)) and not masks[0].any()


def test_gaps_are_filled_from_a_neighbour_only_where_the_result_overlaps_it():
    decoder = DiscDecoder(radius=6.0)
    masks = np.zeros(SHAPE, bool)
    disc = decoder.disc(decoder.centre, 6.0)
    for t in (1, 2, 5, 6):
        masks[t] = disc
    filled, done = fill_gaps(masks, decoder, BoxFitting(gap_slices=2))
    assert done == [3, 4] and all(np.array_equal(filled[t], disc) for t in (3, 4))
    # a gap longer than gap_slices stays empty
    assert fill_gaps(masks, decoder, BoxFitting(gap_slices=1))[1] == []
    # a decoder answering somewhere else is not trusted
    elsewhere = lambda slices, boxes: (np.array([decoder.disc((60.0, 10.0), 6)] * len(slices)),
                                       np.full(len(slices), 0.9))
    assert fill_gaps(masks, elsewhere, BoxFitting(gap_slices=2))[1] == []


def test_rejected_prompts_join_the_structure_only_where_their_regions_overlap_it_slice_to_slice():
    decoder = InscribedDiscDecoder()
    masks = np.zeros(SHAPE, bool)
    for t in range(2, 6):
        masks[t] = disc((20.0, 30.0), 6)
    others = [Candidate(6, np.array([[23.0, 30.0]])),   # overlaps slice 5's disc by 3 px: joins
              Candidate(7, np.array([[26.0, 30.0]])),   # overlaps only slice 6's new region: joins after it
              Candidate(8, np.array([[60.0, 30.0]])),   # a distractor beside the structure: stays out
              Candidate(1, np.array([[30.0, 30.0]])),   # 10 px off: less than half of it overlaps slice 2
              Candidate(11, np.array([[20.0, 30.0]]))]  # no segmented slice within reach 3: never decoded
    grown, slices = grow_by_overlap(masks, others, decoder, 6.0, BoxFitting(gap_slices=2))
    assert slices == [6, 7]
    assert np.array_equal(grown[7], disc((26.0, 30.0), 6))
    assert not grown[[0, 1, 8, 9, 10, 11]].any() and np.array_equal(grown[2:6], masks[2:6])
    assert 11 not in decoder.slices and not masks[6:].any()  # the input is not changed
    # by default the reach is 7 (gap_slices + 1): slice 11 is compared with the nearest segmented slice before
    # it, 5 (6 off, before slices 6 and 7 join), where its disc lies whole, so a click past a skip joins
    grown, slices = grow_by_overlap(masks, others, decoder, 6.0, BoxFitting())
    assert slices == [6, 7, 11] and np.array_equal(grown[11], masks[5]) and not grown[[0, 1, 8, 9, 10]].any()
    # only the nearest segmented slice on each side counts: slice 9 is compared with 5, not with 2
    shifted = masks.copy()
    shifted[5] = disc((50.0, 30.0), 6)
    assert grow_by_overlap(shifted, [Candidate(9, np.array([[20.0, 30.0]]))], decoder, 6.0, BoxFitting())[1] == []
    assert grow_by_overlap(masks, [Candidate(9, np.array([[20.0, 30.0]]))], decoder, 6.0, BoxFitting())[1] == [9]
    # the overlap share is the threshold: 3 px off, 0.69 of the disc lies in slice 5's
    assert grow_by_overlap(masks, others[:1], decoder, 6.0, BoxFitting(grow_min_overlap=0.7))[1] == []
    assert grow_by_overlap(masks, others[:1], decoder, 6.0, BoxFitting(grow_min_overlap=0.68))[1] == [6]
    # a region that swallowed far more than the structure (radius 15 around it: 0.16 of it inside) stays out
    assert grow_by_overlap(masks, [Candidate(6, np.array([[20.0, 30.0]]))], decoder, 15.0, BoxFitting())[1] == []


def test_cleanup_keeps_regions_holding_prompts_across_slices_and_drops_strays():
    masks = np.zeros(SHAPE, bool)
    masks[2:8, 25:35, 15:25] = True    # the structure, 6 slices
    masks[4, 5:9, 60:70] = True        # a stray blob on one slice, holding a prompt
    masks[2:5, 45:55, 60:70] = True    # a region no prompt lies in
    candidates = [Candidate(t, np.array([[20.0, 30.0]])) for t in range(2, 8)] + [Candidate(4, np.array([[65.0, 7.0]]))]
    kept = keep_supported_regions(masks, candidates)
    assert kept[2:8, 25:35, 15:25].all() and kept.sum() == 6 * 10 * 10


def test_clusters_and_the_region_holding_the_points():
    groups = cluster_points(np.array([[0.0, 0.0], [3.0, 0.0], [30.0, 0.0]]), 5.0)
    assert sorted(len(g) for g in groups) == [1, 2]
    mask = np.zeros((20, 20), bool)
    mask[2:5, 2:5] = mask[10:15, 10:15] = True
    assert region_holding(mask, np.array([[12.0, 11.0]])).sum() == 25
    assert not region_holding(mask, np.array([[8.0, 8.0]])).any()
    # within reach: a click two pixels off a region's edge (x 8 is two left of x 10) holds it, three does not
    assert region_holding(mask, np.array([[8.0, 12.0]]), reach_px=2).sum() == 25
    assert not region_holding(mask, np.array([[7.0, 12.0]]), reach_px=2).any()
    assert region_holding(mask, np.array([[6.0, 6.0], [12.0, 16.0]]), reach_px=2).sum() == 9 + 25  # diagonally, below
    assert region_holding(mask, np.array([[0.0, 0.0]]), reach_px=2).sum() == 9  # the window clips at the edge
    assert not region_holding(mask, np.zeros((0, 2)), reach_px=2).any()


def test_the_thresholds_sit_exactly_where_the_docs_put_them():
    """Half the consistent prompts accepted keeps the learned prior; 30 % of the prompted slices is a structure."""
    prompts = traced(range(2, 10))
    continuity = continuity_saliency(prompts, SHAPE, SPACING, 2, 10.0)
    half = choose_prior("auto", learned_map([2, 3, 4, 5]), continuity, prompts, 0.5)
    assert half.route == LEARNED and half.agreement == 0.5 and half.overruled_slices == (6, 7, 8, 9)
    below = choose_prior("auto", learned_map([2, 3, 4]), continuity, prompts, 0.5)
    assert below.route == CONTINUITY and "3 of the 8 prompts" in below.reason and "it needs 50 %" in below.reason
    at_tau = learned_map(range(2, 10))
    at_tau[at_tau > 0] = 0.5  # a prompt is accepted above tau, not at it
    assert choose_prior("auto", at_tau, continuity, prompts, 0.5).agreement == 0.0
    ten = traced(range(10))
    assert structure_found(traced([0, 1, 2]), ten) and not structure_found(traced([0, 1]), ten)
    assert not structure_found(traced([4]), traced([4]))  # one slice is never a structure
    assert structure_found(traced([4, 5]), traced([4, 5]))
    assert [choose_prior(p, None, continuity, prompts, 0.5).label for p in ("none", "raw")] == \
        ["continuity prior", "no prior"]
    assert choose_prior("learned", learned_map([]), continuity, prompts, 0.5).label == "learned prior"
