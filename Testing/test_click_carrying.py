"""Known answers for the clicks' decoding (inference/click_carrying.py): which prompts are clicks to carry, the box
size each click takes, how far beyond the clicks the carrying may go, and where it stops. The decoder is a stand-in
that segments a known object within each box; the real backbone runs in test_real_scan_routes.py."""

import numpy as np
import pytest

from SPDSegmentLib.inference.box_fitting import BoxFitting, Candidate
from SPDSegmentLib.inference.click_carrying import (LARGEST_CARRIED_CROSS_SECTION, ClickCarrying, carry_cross_sections,
                                                    carry_through_slices, clicked_masks, clicks_fitting,
                                                    clicks_forming_a_structure_to_carry, clicks_to_carry,
                                                    intensity_matches, reach_beyond, robust_intensity)
from SPDSegmentLib.inference.prompts import Prompts
from stand_ins import SLICE_SHAPE, disc

SHAPE = (20, *SLICE_SHAPE)
STRUCTURE, BACKGROUND = 0.7, 0.2


class ObjectDecoder:
    """A stand-in decoder: every box gives the part of a known 3D object inside it; the predicted IoU is the IoU of
    the box with the object's own box on that slice (0 where the slice holds none). Records what it decoded."""

    def __init__(self, objects: np.ndarray):
        self.objects = objects
        self.slices = []

    def __call__(self, slices, boxes):
        masks, quality = [], []
        yy, xx = np.mgrid[:self.objects.shape[1], :self.objects.shape[2]]
        for t, (x0, y0, x1, y1) in zip(slices, boxes):
            self.slices.append(int(t))
            inside = (xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)
            masks.append(self.objects[t] & inside)
            quality.append(box_iou(inside, self.objects[t]))
        return np.array(masks), np.array(quality)


def box_iou(box_mask: np.ndarray, obj: np.ndarray) -> float:
    if not obj.any():
        return 0.0
    ys, xs = np.nonzero(obj)
    own = np.zeros_like(obj)
    own[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    return float((own & box_mask).sum() / (own | box_mask).sum())


def cylinder(first: int, last: int, radius: float = 6.0, centre=(40.0, 30.0)) -> np.ndarray:
    objects = np.zeros(SHAPE, bool)
    objects[first:last + 1] = disc(centre, radius)
    return objects


def image_of(objects: np.ndarray, value: float = STRUCTURE) -> np.ndarray:
    return np.where(objects, value, BACKGROUND).astype(np.float32)


def clicks(rows) -> Prompts:
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def test_clicks_are_carried_when_nothing_checks_them_or_competes_with_them():
    reach, cluster_px = 7, 10.0
    three_apart = [(8, 10, 10), (8, 40, 10), (8, 70, 50)]  # three clusters on one slice
    # every prompted slice more than 7 slices from the next: carried, however many clusters a slice holds
    assert clicks_to_carry(clicks([(0, 10, 10), *three_apart, (16, 40, 30)]), reach, cluster_px)
    assert clicks_to_carry(clicks(three_apart), reach, cluster_px)  # a single prompted slice
    # slices within reach: carried while no slice holds more than two clusters
    assert clicks_to_carry(clicks([(0, 10, 10), (4, 10, 10), (4, 50, 50), (7, 12, 10), (7, 15, 12)]), reach,
                           cluster_px)
    assert not clicks_to_carry(clicks([(1, 10, 10), *three_apart]), reach, cluster_px)  # 7 apart is within reach
    assert clicks_to_carry(clicks([(0, 10, 10), *three_apart]), reach, cluster_px)  # 8 apart is not
    assert not clicks_to_carry(Prompts.empty(), reach, cluster_px)


def test_clicks_forming_a_structure_are_carried_unless_a_curve_traced_them_or_they_compete():
    """On the continuity route: clicks every few slices, one or two clusters a slice, take the clicks' path; the very
    same points sampled from a traced curve do not (the curve says where its structure ends), nor do three
    clusters on a slice, nor a negative click's cluster counted as a positive one."""
    reach, cluster_px = 7, 10.0
    rows = [(0, 10, 10), (4, 12, 10), (4, 50, 50), (8, 14, 10)]
    every_few = clicks(rows)
    assert clicks_forming_a_structure_to_carry(every_few, reach, cluster_px)
    traced = Prompts(every_few.slice_index, every_few.xy, every_few.positive, np.zeros(len(rows), int))
    assert not clicks_forming_a_structure_to_carry(traced, reach, cluster_px)
    assert not clicks_forming_a_structure_to_carry(clicks([*rows, (4, 70, 30)]), reach, cluster_px)
    with_negative = Prompts(np.array([r[0] for r in rows] + [4]), np.array([r[1:] for r in rows] + [(70, 30)], float),
                            np.array([True] * len(rows) + [False]))
    assert clicks_forming_a_structure_to_carry(with_negative, reach, cluster_px)


def test_the_clicks_take_one_box_size_from_sizes_that_go_on_to_organs():
    """A cross-section 60 mm in radius (30 px at 2 mm), clicked on two slices: the mean predicted IoU is best at
    72 mm (its box's IoU with the object's own box 61^2 / 73^2 = 0.70; 48 mm gives 49^2 / 61^2 = 0.65, more than
    0.05 below), a size the fitted boxes of the continuity route never try (at most 48 mm)."""
    objects = np.zeros((4, 160, 160), bool)
    objects[[1, 2]] = disc((80.0, 80.0), 30.0, (160, 160))
    candidates = [Candidate(1, np.array([[80.0, 80.0]])), Candidate(2, np.array([[80.0, 80.0]]))]
    masks, half, scores = clicked_masks(candidates, ObjectDecoder(objects), 2.0, objects.shape, BoxFitting(),
                                        ClickCarrying())
    assert max(BoxFitting().half_sizes_mm) == 48.0 and half == 72.0
    assert scores[72.0] == pytest.approx((61 / 73) ** 2) and scores[48.0] == pytest.approx((49 / 61) ** 2)
    assert np.array_equal(masks, objects)


class DarkVesselDecoder:
    """A stand-in for the decoder on a dark MR vessel: boxes under 12 px in half-width give the vessel (a disc of
    radius 4 at the click) with predicted IoU 0.6; larger ones a brighter neighbour beside it, with 0.9."""

    vessel, neighbour = disc((40.0, 30.0), 4.0), disc((62.0, 30.0), 10.0)

    def __call__(self, slices, boxes):
        small = [(b[2] - b[0]) / 2 < 12 for b in boxes]
        return (np.array([self.vessel if s else self.neighbour for s in small]),
                np.array([0.6 if s else 0.9 for s in small]))


def test_the_clicks_box_size_is_chosen_among_the_masks_that_hold_the_clicks():
    """The predicted IoU is that of whatever the decoder outlined: a size whose masks miss the clicks (the neighbour
    beside a dark vessel) would win by it and leave no region at any click. The clicks' size is chosen among the
    sizes whose masks hold their clicks; a traced curve's fitted boxes keep the IoU alone (the held-out study
    measured them so)."""
    candidates = [Candidate(t, np.array([[40.0, 30.0]])) for t in range(3)]
    settings = ClickCarrying(half_sizes_mm=(6.0, 9.0, 18.0, 24.0))
    masks, half, scores = clicked_masks(candidates, DarkVesselDecoder(), 1.0, (3, *SLICE_SHAPE), BoxFitting(),
                                        settings)
    assert half == 6.0 and scores == pytest.approx({6.0: 0.6, 9.0: 0.6})
    assert all(np.array_equal(mask, DarkVesselDecoder.vessel) for mask in masks)
    assert clicks_fitting(BoxFitting(), settings).held_prompts_only and not BoxFitting().held_prompts_only


def test_the_carrying_reaches_as_far_as_the_structure_is_wide_and_no_farther_than_the_clicks_lie_apart():
    masks = np.zeros(SHAPE, bool)
    masks[6, 20:32, 40:50] = True   # 12 px tall, 10 wide, at 1.5 mm: 18 mm, 9 slices of 2 mm
    assert reach_beyond(masks, np.array([6]), 1.5, 2.0) == 9
    masks[12, 20:24, 40:44] = True
    assert reach_beyond(masks, np.array([6, 12]), 1.5, 2.0) == 6
    assert reach_beyond(masks, np.array([6, 9, 12]), 1.5, 2.0) == 3


def test_a_click_is_carried_to_both_ends_of_the_structure_and_stops_there():
    objects = cylinder(3, 12)
    decoder = ObjectDecoder(objects)
    seeds = np.zeros(SHAPE, bool)
    seeds[8] = objects[8]
    carried_masks, carried = carry_through_slices(seeds, image_of(objects), decoder, 0, 19, ClickCarrying())
    assert carried == [3, 4, 5, 6, 7, 9, 10, 11, 12]
    assert np.array_equal(carried_masks, objects)
    # one slice past each end was tried, then no more
    assert sorted(set(decoder.slices)) == [2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13]
    # the bounds hold the fronts
    _, carried = carry_through_slices(seeds, image_of(objects), decoder, 6, 10, ClickCarrying())
    assert carried == [6, 7, 9, 10]


def test_two_clicks_fronts_meet_between_them():
    objects = cylinder(3, 12)
    seeds = np.zeros(SHAPE, bool)
    seeds[[4, 11]] = objects[[4, 11]]
    carried_masks, carried = carry_through_slices(seeds, image_of(objects), ObjectDecoder(objects), 0, 19,
                                                  ClickCarrying())
    assert carried == [3, 5, 6, 7, 8, 9, 10, 12] and np.array_equal(carried_masks, objects)


@pytest.mark.parametrize("beyond_value, carried_to", [(STRUCTURE, 15), (0.95, 12)])
def test_past_the_end_another_tissue_in_the_box_stops_the_carrying(beyond_value, carried_to):
    """Slices 13-15 hold a region of the same shape in the same place: of the structure's intensity it is carried
    on (nothing tells them apart), of another tissue's it is not."""
    objects = cylinder(3, 15)
    image = image_of(cylinder(3, 12))
    image[13:16][objects[13:16]] = beyond_value
    seeds = np.zeros(SHAPE, bool)
    seeds[8] = objects[8]
    _, carried = carry_through_slices(seeds, image, ObjectDecoder(objects), 0, 19, ClickCarrying())
    assert max(carried) == carried_to and min(carried) == 3


def test_a_region_that_no_longer_matches_the_slice_before_stops_the_carrying():
    objects = cylinder(3, 12)
    objects[13] = disc((40.0, 30.0), 2.0)   # Dice with the radius-6 disc before it: about 0.2
    objects[2] = disc((40.0, 30.0), 5.0)    # about 0.8: carried
    seeds = np.zeros(SHAPE, bool)
    seeds[8] = objects[8]
    _, carried = carry_through_slices(seeds, image_of(objects), ObjectDecoder(objects), 0, 19, ClickCarrying())
    assert min(carried) == 2 and max(carried) == 12


def test_the_intensity_reference_is_the_clicked_tissue_not_a_rim_of_another():
    values = np.r_[np.full(90, STRUCTURE), np.full(10, 0.1)]
    median, sd = robust_intensity(values)
    assert median == pytest.approx(STRUCTURE) and sd == pytest.approx(0.0)
    assert intensity_matches(np.full(5, STRUCTURE + 0.02), (median, sd), 3.0)       # within 3 x the 0.01 floor
    assert not intensity_matches(np.full(5, STRUCTURE + 0.04), (median, sd), 3.0)
    assert intensity_matches(np.full(5, STRUCTURE + 0.04), (median, 0.02), 3.0)     # a wider reference


def test_a_slice_one_front_fails_on_is_carried_from_the_other_side():
    """The structure shifts 6 px between slices 5 and 6: from slice 5 the box cuts slice 6's cross-section (Dice
    under 0.5); from slice 7, the front of the second click, it matches."""
    objects = cylinder(3, 12)
    objects[6:13] = disc((46.0, 30.0), 6.0)
    seeds = np.zeros(SHAPE, bool)
    seeds[[4, 8]] = objects[[4, 8]]
    carried_masks, carried = carry_through_slices(seeds, image_of(objects), ObjectDecoder(objects), 0, 19,
                                                  ClickCarrying())
    assert carried == [3, 5, 6, 7, 9, 10, 11, 12] and np.array_equal(carried_masks[6], objects[6])


def test_only_the_regions_that_continue_the_mask_are_carried():
    """A speck in the carried box's corner, apart from the structure, is not carried with it."""
    objects = cylinder(3, 12)
    objects[9, 24, 34] = True  # 2 px diagonally off the disc's nearest pixel: a region of its own
    seeds = np.zeros(SHAPE, bool)
    seeds[8] = objects[8]
    carried_masks, _ = carry_through_slices(seeds, image_of(objects), ObjectDecoder(objects), 0, 19, ClickCarrying())
    assert np.array_equal(carried_masks[9], disc((40.0, 30.0), 6.0))


def two_limbs() -> np.ndarray:
    """Two cross-sections on every slice of 3-12, as a colon's ascending and descending limbs."""
    return cylinder(3, 12, centre=LEFT) | cylinder(3, 12, centre=RIGHT)


LEFT, RIGHT = (20.0, 30.0), (60.0, 30.0)


def test_a_limb_segmented_on_one_slice_is_carried_along_it_beside_the_limb_segmented_on_every_slice():
    """No slice is empty, so carrying whole slices does nothing; carried cross-section by cross-section, the right
    limb reaches every slice of the structure, within the bounds, and no slice counts as gained."""
    objects = two_limbs()
    seeds = cylinder(3, 12, centre=LEFT)
    seeds[8] |= cylinder(3, 12, centre=RIGHT)[8]
    assert carry_through_slices(seeds, image_of(objects), ObjectDecoder(objects), 0, 19, ClickCarrying())[1] == []
    carried_masks, count, gained = carry_cross_sections(seeds, image_of(objects), ObjectDecoder(objects), 0, 19,
                                                        ClickCarrying())
    assert np.array_equal(carried_masks, objects) and count == 9 and gained == []
    carried_masks, count, _ = carry_cross_sections(seeds, image_of(objects), ObjectDecoder(objects), 6, 10,
                                                   ClickCarrying())
    assert count == 4 and np.array_equal(carried_masks[6:11], objects[6:11])
    assert np.array_equal(carried_masks[3:6], seeds[3:6]) and np.array_equal(carried_masks[11:13], seeds[11:13])


def test_cross_sections_that_overlap_the_neighbouring_slices_mask_are_not_decoded_again():
    """A structure segmented on every slice of its own is carried only past its ends, where nothing matches."""
    objects = two_limbs()
    decoder = ObjectDecoder(objects)
    carried_masks, count, gained = carry_cross_sections(objects, image_of(objects), decoder, 0, 19, ClickCarrying())
    assert np.array_equal(carried_masks, objects) and count == 0 and gained == []
    assert sorted(set(decoder.slices)) == [2, 13]


def test_empty_slices_a_cross_section_is_carried_to_are_reported_and_another_tissue_stops_it():
    """The left limb is seeded on slice 5, the right one on slice 7; the slices they reach that held nothing are gained.
    On slices 11 and 12 the limbs hold another tissue's intensity: neither is carried there (7 slices each)."""
    objects = two_limbs()
    image = image_of(objects)
    image[11:13][objects[11:13]] = 0.95
    seeds = np.zeros(SHAPE, bool)
    seeds[5] = cylinder(3, 12, centre=LEFT)[5]
    seeds[7] = cylinder(3, 12, centre=RIGHT)[7]
    carried_masks, count, gained = carry_cross_sections(seeds, image, ObjectDecoder(objects), 0, 19, ClickCarrying())
    assert gained == [3, 4, 6, 8, 9, 10]
    assert np.array_equal(carried_masks[3:11], objects[3:11])
    assert np.array_equal(carried_masks[11:13], np.zeros((2, *SLICE_SHAPE), bool))
    assert count == 7 + 7


def test_a_cross_section_that_grows_past_one_and_a_half_times_the_structures_median_is_not_carried():
    """The right region widens by 1 px a slice above slice 6 (a stray region carried along a larger tissue, each
    slice within the shape check): it is carried while no larger than 1.5 times the median of the structure's
    cross-sections, the radius-6 discs of the left limb (113 px: 169.5), to radius 7 (149 px) and not to radius 8
    (197 px)."""
    assert LARGEST_CARRIED_CROSS_SECTION == 1.5
    objects = two_limbs()
    for t, radius in zip(range(7, 13), (7.0, 8.0, 9.0, 10.0, 11.0, 12.0)):
        objects[t] = disc(LEFT, 6.0) | disc(RIGHT, radius)
    seeds = cylinder(3, 12, centre=LEFT)
    seeds[6] |= objects[6]
    carried_masks, count, _ = carry_cross_sections(seeds, image_of(objects), ObjectDecoder(objects), 0, 19,
                                                   ClickCarrying())
    assert disc(RIGHT, 6.0).sum() == 113 and disc(RIGHT, 7.0).sum() == 149 and disc(RIGHT, 8.0).sum() == 197
    assert count == 3 + 1 and np.array_equal(carried_masks[3:8], objects[3:8])
    assert np.array_equal(carried_masks[8:13], seeds[8:13])
