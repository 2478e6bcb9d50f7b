"""Known answers for the fitted boxes' small parts: the box around a mask, the region at a click near the image's
edges, Dice, the box size in mm on non-square-mm pixels, ties in the size choice, which gaps are filled and from
which neighbour, and which 3D regions the cleanup keeps. Every expectation is worked out by hand."""

import dataclasses

import numpy as np
import pytest

from SPDSegmentLib.inference.box_fitting import (BoxFitting, Candidate, choose_half_size, dice, fill_gaps,
                                                 grow_by_overlap, keep_supported_regions, mask_box, region_holding,
                                                 settle_regions)
from stand_ins import SLICE_SHAPE, InscribedDiscDecoder, disc

SHAPE = (12, *SLICE_SHAPE)


def test_the_box_around_a_mask_is_its_extent_grown_by_the_margin():
    mask = np.zeros((20, 30), bool)
    mask[3:6, 10:15] = True  # rows 3-5, columns 10-14
    assert mask_box(mask, 2.0).tolist() == [8.0, 1.0, 16.0, 7.0]
    assert mask_box(mask, 0.0).tolist() == [10.0, 3.0, 14.0, 5.0]


def test_a_click_on_the_last_row_or_column_holds_the_region_there():
    mask = np.zeros((20, 30), bool)
    mask[19, 5:10] = True   # a region on the bottom row only
    mask[8:12, 29] = True   # and one on the right-hand column only
    assert region_holding(mask, np.array([[7.0, 19.0]]), reach_px=2).sum() == 5
    assert region_holding(mask, np.array([[29.0, 10.0]]), reach_px=2).sum() == 4
    assert region_holding(mask, np.array([[28.0, 10.0]]), reach_px=1).sum() == 4  # one pixel left of it
    assert not region_holding(mask, np.array([[7.0, 17.0]]), reach_px=1).any()  # two rows above it


def test_dice_by_hand():
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    assert dice(a, b) == 0.0  # two empty masks: nothing agrees
    a[0, :3] = True          # 3 pixels
    b[0, :] = True           # 4 pixels, one more row below
    b[1, 0] = True
    assert dice(a, b) == pytest.approx(2 * 3 / (3 + 5))
    assert dice(a, np.zeros((4, 4), bool)) == 0.0


def test_the_box_size_is_converted_from_mm_with_the_pixel_size():
    decoder = InscribedDiscDecoder({4.0: 0.9, 6.0: 0.9})
    candidates = [Candidate(t, np.array([[20.0, 30.0]])) for t in range(4)]
    # 2 mm pixels: 8 mm is 4 px, 12 mm is 6 px; both score 0.9, and with no tolerance the smaller wins the tie
    half, scores = choose_half_size(candidates, decoder, 2.0, BoxFitting(half_sizes_mm=(4.0, 8.0, 12.0), sample=4,
                                                                        tolerance=0.0))
    assert half == 8.0 and scores == {4.0: 0.5, 8.0: 0.9, 12.0: 0.9}
    assert sorted({float(b[2] - b[0]) / 2 for b in decoder.boxes}) == [2.0, 4.0, 6.0]


class NeighbourBesideLargeBoxes(InscribedDiscDecoder):
    """Boxes of half-width 12 px or more score a predicted IoU of 0.9, smaller ones 0.7; on the ``missed`` slices
    boxes of half-width ``from_px`` or more outline a neighbour 10 px right of the box's centre, elsewhere the disc
    inscribed in them, at the click (a dark vessel on MR beside brighter tissue)."""

    def __init__(self, missed: set[int], from_px: float):
        super().__init__()
        self.missed, self.from_px = missed, from_px

    def __call__(self, slices, boxes):
        masks, iou = super().__call__(slices, boxes)
        for i, (t, box) in enumerate(zip(slices, boxes)):
            iou[i] = 0.9 if (box[2] - box[0]) / 2 >= 12 else 0.7
            if (box[2] - box[0]) / 2 >= self.from_px and t in self.missed:
                masks[i] = disc(((box[0] + box[2]) / 2 + 10, (box[1] + box[3]) / 2), 4.0, self.shape)
        return masks, iou


@pytest.mark.parametrize("missed, from_px, chosen, among", [
    ({0, 1, 2}, 12.0, 6.0, (6.0, 9.0)),          # the larger sizes' masks all miss: left out
    ({0}, 12.0, 12.0, (6.0, 9.0, 12.0, 18.0)),   # one slice's mask misses: the size stays
    ({0, 1, 2}, 0.0, 12.0, (6.0, 9.0, 12.0, 18.0)),  # no size's masks hold the clicks: chosen among all
])
def test_with_held_prompts_only_a_size_none_of_whose_masks_holds_the_clicks_is_left_out(missed, from_px, chosen,
                                                                                       among):
    candidates = [Candidate(t, np.array([[30.0, 30.0]])) for t in range(3)]
    sizes = BoxFitting(half_sizes_mm=(6.0, 9.0, 12.0, 18.0))
    # by the predicted IoU alone the larger boxes win (the curves' fitted boxes choose so)
    assert choose_half_size(candidates, NeighbourBesideLargeBoxes(missed, from_px), 1.0, sizes)[0] == 12.0
    half, scores = choose_half_size(candidates, NeighbourBesideLargeBoxes(missed, from_px), 1.0,
                                    dataclasses.replace(sizes, held_prompts_only=True))
    assert half == chosen and tuple(scores) == among
    assert all(scores[h] == pytest.approx(0.9 if h >= 12 else 0.7) for h in among)


def test_gaps_of_up_to_six_slices_are_filled_by_default_each_from_its_nearest_segmented_slice():
    masks = np.zeros(SHAPE, bool)
    masks[0] = disc((20.0, 30.0), 6.0)
    masks[7] = disc((24.0, 30.0), 6.0)   # a 6-slice gap (1-6), the structure drifting 4 px to the right
    masks[9] = disc((24.0, 30.0), 6.0)   # a 1-slice gap (8)
    filled, done = fill_gaps(masks, InscribedDiscDecoder(), BoxFitting())
    assert done == [1, 2, 3, 4, 5, 6, 8]
    pad = BoxFitting().pad_px
    # slices 1-3 take slice 0's box (grown by the margin), 4-6 and 8 slice 7's
    from_0, from_7 = disc((20.0, 30.0), 6.0 + pad), disc((24.0, 30.0), 6.0 + pad)
    assert all(np.array_equal(filled[t], from_0) for t in (1, 2, 3))
    assert all(np.array_equal(filled[t], from_7) for t in (4, 5, 6, 8))
    longer = np.zeros(SHAPE, bool)
    longer[0], longer[8] = masks[0], masks[7]  # a 7-slice gap (1-7): too long, left empty
    assert fill_gaps(longer, InscribedDiscDecoder(), BoxFitting())[1] == []


def candidates(points):
    return [Candidate(t, np.array([[x, y]])) for t, x, y in points]


def test_a_region_beside_the_structure_on_its_slices_stays_only_with_half_its_prompts():
    masks = np.zeros(SHAPE, bool)
    masks[0:10, 20:30, 10:20] = True                 # the structure: slices 0-9, 10 prompts
    main = [(t, 15.0, 25.0) for t in range(10)]
    masks[0:2, 45:55, 60:70] = True                  # on slices 0-1 too, though far from it in the image
    region = np.s_[0:2, 45:55, 60:70]
    assert not keep_supported_regions(masks, candidates(main + [(0, 65.0, 50.0), (1, 65.0, 50.0)]))[region].any()
    for count in (5, 6):                             # 5 is half of 10
        points = [(t % 2, 65.0, 45.0 + t) for t in range(count)]
        assert keep_supported_regions(masks, candidates(main + points))[region].all(), count


def test_a_rival_beside_the_structure_that_the_learned_prior_vouches_for_nowhere_is_dropped():
    masks = np.zeros(SHAPE, bool)
    masks[0:10, 20:30, 10:20] = True                 # the structure: slices 0-9, 10 prompts
    masks[0:6, 45:55, 60:70] = True                  # a rival on slices 0-5 with 6 prompts (over half)
    region = np.s_[0:6, 45:55, 60:70]
    points = [(t, 15.0, 25.0) for t in range(10)] + [(t, 65.0, 50.0) for t in range(6)]

    def kept(structure_vouched, rival_vouched):
        vouched = np.array([t in structure_vouched for t in range(10)] + [t in rival_vouched for t in range(6)])
        supported, settled = settle_regions(masks, candidates(points), vouched=vouched)
        assert np.array_equal(supported, keep_supported_regions(masks, candidates(points), vouched=vouched))
        assert np.array_equal(settled[region], ~supported[region]) and not settled[0:10, 20:30, 10:20].any()
        return supported[region].all()

    assert kept({3, 4}, {2})          # the prior vouches for both: the rival stays, as without it
    assert kept(set(), set())         # it vouches for neither: nothing to tell them apart by
    assert kept(set(), {2})           # it vouches only for the rival
    assert not kept({3}, set())       # only for the structure: the rival is the curve's drift
    assert keep_supported_regions(masks, candidates(points))[region].all()  # no prior: as before
    assert not settle_regions(masks, candidates(points))[1].any()
    masks[0:6, 45:55, 60:70] = False                 # off the structure's slices, a region is never a rival
    masks[10:12, 45:55, 60:70] = True
    off = candidates([(t, 15.0, 25.0) for t in range(10)] + [(10, 65.0, 50.0), (11, 65.0, 50.0)])
    vouched = np.array([True] * 10 + [False] * 2)
    supported, settled = settle_regions(masks, off, vouched=vouched)
    assert supported[10:12, 45:55, 60:70].all() and not settled.any()


def test_regions_off_the_structure_stay_with_a_tenth_of_its_prompts_on_two_slices_or_more():
    masks = np.zeros(SHAPE, bool)
    masks[0:2, 45:55, 60:70] = True      # label 1 (first in the volume): slices 0-1
    masks[2:10, 20:30, 10:20] = True     # label 2, the structure: slices 2-9, 8 prompts
    masks[10:12, 45:55, 60:70] = True    # label 3: slices 10-11
    main = [(t, 15.0, 25.0) for t in range(2, 10)]
    first, last = np.s_[0:2, 45:55, 60:70], np.s_[10:12, 45:55, 60:70]
    kept = keep_supported_regions(masks, candidates(main + [(1, 65.0, 50.0), (10, 65.0, 50.0)]))
    assert kept[first].all() and kept[last].all() and kept[2:10, 20:30, 10:20].all()
    kept = keep_supported_regions(masks, candidates(main + [(1, 65.0, 50.0)]))  # no prompt in the last one
    assert kept[first].all() and not kept[last].any()
    # a tenth is the least: with 10 prompts on the structure one prompt (0.1 x 10) still does
    masks[0:2, 20:30, 10:20] = True
    masks[0:2, 45:55, 60:70] = False
    ten = [(t, 15.0, 25.0) for t in range(10)]
    assert keep_supported_regions(masks, candidates(ten + [(10, 65.0, 50.0)]))[last].all()
    # one slice is never enough; three are
    masks[11] = False
    assert not keep_supported_regions(masks, candidates(ten + [(10, 65.0, 50.0)]))[10].any()
    masks[9, 20:30, 10:20] = False
    masks[9:12, 45:55, 60:70] = True
    nine = [(t, 15.0, 25.0) for t in range(9)]
    assert keep_supported_regions(masks, candidates(nine + [(10, 65.0, 50.0)]))[9:12, 45:55, 60:70].all()


def test_a_rejected_click_joins_from_up_to_seven_slices_away_on_either_side_by_default():
    structure = disc((20.0, 30.0), 6.0)
    click = np.array([[20.0, 30.0]])
    for segmented, at, joins in ((0, 7, True), (0, 8, False), (11, 4, True), (11, 3, False)):
        masks = np.zeros(SHAPE, bool)
        masks[segmented] = structure
        decoder = InscribedDiscDecoder()
        grown, slices = grow_by_overlap(masks, [Candidate(at, click)], decoder, 6.0, BoxFitting())
        assert slices == ([at] if joins else []), (segmented, at)
        assert np.array_equal(grown[at], structure if joins else np.zeros_like(structure))
        assert len(decoder.boxes) == (1 if joins else 0)  # a click out of reach is never decoded


def test_the_cleanup_finds_prompts_on_the_image_edges():
    masks = np.zeros(SHAPE, bool)
    masks[0:8, 20:30, 20:30] = True                       # the structure: slices 0-7, 8 prompts
    main = [(t, 25.0, 25.0) for t in range(8)]
    edges = {"last row": (np.s_[8:10, 59, 40:50], (45.0, 59.5)),   # y 59.5 rounds to 60, the row past the image
             "last column": (np.s_[8:10, 40:50, 79], (79.5, 45.0)),
             "first column": (np.s_[8:10, 40:50, 0], (-0.4, 45.0))}
    for name, (region, (x, y)) in edges.items():
        edge = masks.copy()
        edge[region] = True
        kept = keep_supported_regions(edge, candidates(main + [(8, x, y)]))
        assert kept[region].all(), name                   # one prompt of eight: a tenth or more
        assert not keep_supported_regions(edge, candidates(main))[region].any(), name


class FixedMasks:
    """A stand-in decoder that gives a set mask for a box centred on a given pixel of a slice, or for any box on a
    given slice; an empty mask for every other box."""

    def __init__(self, by_centre=None, by_slice=None):
        self.by_centre = by_centre or {}
        self.by_slice = by_slice or {}

    def __call__(self, slices, boxes):
        empty = np.zeros(SHAPE[1:], bool)
        masks = []
        for t, box in zip(slices, boxes):
            x, y = np.rint((box[:2] + box[2:]) / 2).astype(int).tolist()
            masks.append(self.by_centre.get((int(t), x, y), self.by_slice.get(int(t), empty)))
        return np.array(masks), np.full(len(masks), 0.5)


def rectangle(rows, columns):
    mask = np.zeros(SHAPE[1:], bool)
    mask[rows, columns] = True
    return mask


def test_the_default_box_sizes_and_sample_are_the_documented_ones():
    # docs/DEFAULT_MODEL.md section 2: half-sizes 6 to 48 mm, 8 clusters spread along the structure, the smallest
    # size within 0.05 of the best; the study's figures were measured with exactly these
    decoder = InscribedDiscDecoder()
    candidates = [Candidate(t, np.array([[30.0, 30.0]])) for t in range(20)]
    _, scores = choose_half_size(candidates, decoder, 1.0, BoxFitting())
    assert list(scores) == [6.0, 9.0, 12.0, 18.0, 24.0, 36.0, 48.0]
    sizes = len(scores)
    # np.linspace(0, 19, 8) rounded: the first and the last cluster and six evenly between them
    assert [int(t) for t in np.array(decoder.slices).reshape(sizes, -1)[0]] == [0, 3, 5, 8, 11, 14, 16, 19]
    with pytest.raises(dataclasses.FrozenInstanceError):
        BoxFitting().sample = 3  # one settings object is shared by every run of a predictor


def test_the_fitted_box_settings_are_those_the_study_measured():
    # docs/RESULTS.md and docs/DEFAULT_MODEL.md were measured with these; changing one means rerunning the study
    settings = BoxFitting()
    assert (settings.cluster_mm, settings.gap_slices, settings.gap_min_dice, settings.pad_px,
            settings.grow_min_overlap, settings.held_prompts_only) == (15.0, 6, 0.3, 2.0, 0.5, False)


@pytest.mark.parametrize("iou_at_9, chosen", [(0.84, 12.0), (0.86, 9.0)])
def test_the_smallest_size_within_five_hundredths_of_the_best_wins(iou_at_9, chosen):
    decoder = InscribedDiscDecoder({6.0: 0.70, 9.0: iou_at_9, 12.0: 0.90})
    candidates = [Candidate(t, np.array([[30.0, 30.0]])) for t in range(3)]
    assert choose_half_size(candidates, decoder, 1.0, BoxFitting())[0] == chosen


def test_a_half_size_in_mm_becomes_a_fraction_of_a_pixel_where_it_does_not_divide():
    decoder = InscribedDiscDecoder()
    candidates = [Candidate(0, np.array([[30.0, 30.0]]))]
    choose_half_size(candidates, decoder, 2.0, BoxFitting(half_sizes_mm=(9.0,)))
    assert decoder.boxes[0].tolist() == [25.5, 25.5, 34.5, 34.5]  # 9 mm on 2 mm pixels: 4.5 px each side


def test_clusters_by_hand():
    from SPDSegmentLib.inference.box_fitting import cluster_points

    assert cluster_points(np.zeros((0, 2)), 5.0) == []
    assert [c.tolist() for c in cluster_points(np.array([[3.0, 4.0]]), 5.0)] == [[[3.0, 4.0]]]
    assert [c.tolist() for c in cluster_points(np.array([[0.0, 0.0], [30.0, 0.0]]), 5.0)] == [[[0.0, 0.0]],
                                                                                            [[30.0, 0.0]]]
    assert len(cluster_points(np.array([[0.0, 0.0], [3.0, 4.0]]), 5.0)) == 1  # 5 px apart: one cluster
    three = cluster_points(np.array([[0.0, 0.0], [40.0, 0.0], [41.0, 1.0], [90.0, 0.0]]), 5.0)
    assert sorted(c.tolist() for c in three) == [[[0.0, 0.0]], [[40.0, 0.0], [41.0, 1.0]], [[90.0, 0.0]]]


def test_the_region_lookup_window_and_the_image_edges():
    mask = np.zeros((20, 30), bool)
    mask[10, 8] = True                   # one pixel two columns left of the click at (10, 10)
    assert not region_holding(mask, np.array([[10.0, 10.0]]), reach_px=1).any()
    assert region_holding(mask, np.array([[10.0, 10.0]]), reach_px=2).any()
    mask[:] = False
    mask[10, 12] = True                  # two columns right of it
    assert region_holding(mask, np.array([[10.0, 10.0]]), reach_px=2).any()
    top, left = np.zeros((20, 30), bool), np.zeros((20, 30), bool)
    top[0, 5:10] = True                  # a region on the first row only
    left[5:10, 0] = True                 # and one on the first column only
    assert region_holding(top, np.array([[7.0, 0.0]])).sum() == 5
    assert region_holding(top, np.array([[7.0, -0.6]])).sum() == 5   # rounds to the row before the image
    assert region_holding(left, np.array([[0.0, 7.0]])).sum() == 5
    assert region_holding(left, np.array([[-0.6, 7.0]])).sum() == 5   # rounds to the column before the image
    beside = np.zeros((20, 30), bool)
    beside[10, 11] = True                # next to the click: by default only a region under it counts
    assert not region_holding(beside, np.array([[10.0, 10.0]])).any()


def test_an_odd_gap_limit_and_a_fill_that_overlaps_its_neighbour_by_exactly_the_least_dice():
    masks = np.zeros(SHAPE, bool)
    masks[0] = disc((20.0, 30.0), 6.0)
    masks[6] = disc((20.0, 30.0), 6.0)   # a 5-slice gap (1-5)
    assert fill_gaps(masks, InscribedDiscDecoder(), BoxFitting(gap_slices=5))[1] == [1, 2, 3, 4, 5]
    assert fill_gaps(masks, InscribedDiscDecoder(), BoxFitting(gap_slices=4))[1] == []
    source = rectangle(slice(10, 11), slice(10, 20))        # 10 px
    gap = np.zeros(SHAPE, bool)
    gap[0], gap[2] = source, source
    decoded = rectangle(slice(10, 11), slice(17, 27))       # 10 px, 3 of them on the source: Dice 6 / 20 = 0.3
    filled, done = fill_gaps(gap, FixedMasks(by_slice={1: decoded}), BoxFitting())
    assert done == [1] and np.array_equal(filled[1], decoded)


def test_the_cleanup_of_an_empty_stack_stays_empty():
    assert not keep_supported_regions(np.zeros(SHAPE, bool), candidates([(0, 5.0, 5.0)])).any()


def test_the_cleanup_finds_prompts_on_the_first_row_and_left_of_the_first_column():
    masks = np.zeros(SHAPE, bool)
    masks[0:8, 20:30, 20:30] = True
    main = [(t, 25.0, 25.0) for t in range(8)]
    edges = {"first row": (np.s_[8:10, 0, 40:50], (45.0, 0.0)),
             "above the first row": (np.s_[8:10, 0, 40:50], (45.0, -0.6)),   # y -0.6 rounds to -1
             "first column": (np.s_[8:10, 40:50, 0], (-0.6, 45.0))}   # x -0.6 rounds to -1, clipped to 0
    for name, (region, (x, y)) in edges.items():
        edge = masks.copy()
        edge[region] = True
        assert keep_supported_regions(edge, candidates(main + [(8, x, y)]))[region].all(), name


def test_the_cleanup_ignores_prompts_whose_box_found_nothing():
    masks = np.zeros(SHAPE, bool)
    masks[0:5, 20:30, 10:20] = True                   # the structure: 5 prompts
    masks[6:8, 45:55, 60:70] = True                   # off it, 1 prompt
    on_background = [(t, 40.0, 5.0) for t in range(6)]  # six clusters whose decoded region was empty
    kept = keep_supported_regions(masks, candidates([(t, 15.0, 25.0) for t in range(5)] + [(6, 65.0, 50.0)] +
                                                    on_background))
    assert np.array_equal(kept, masks)


def test_the_cleanup_drops_a_region_with_less_than_a_tenth_and_keeps_one_before_the_structure():
    masks = np.zeros(SHAPE, bool)
    masks[3:12, 20:30, 10:20] = True                  # the structure: slices 3-11, 11 prompts (two on 3 and 4)
    main = [(t, 15.0, 25.0) for t in (3, 3, 4, 4, 5, 6, 7, 8, 9, 10, 11)]
    masks[0:2, 45:55, 60:70] = True                   # slices 0-1, off its slices
    region = np.s_[0:2, 45:55, 60:70]
    assert not keep_supported_regions(masks, candidates(main + [(0, 65.0, 50.0)]))[region].any()  # 1 < 1.1
    masks = np.zeros(SHAPE, bool)
    masks[4:10, 20:30, 10:20] = True                  # the structure: slices 4-9, 6 prompts
    main = [(t, 15.0, 25.0) for t in range(4, 10)]
    masks[0:2, 45:55, 60:70] = True                   # slices 0-1, wholly before it: not beside it
    assert keep_supported_regions(masks, candidates(main + [(0, 65.0, 50.0)]))[region].all()
    masks[0] = False                                  # now on slice 1 only: one slice is never enough
    assert not keep_supported_regions(masks, candidates(main + [(1, 65.0, 50.0)]))[1].any()


def test_growth_reaches_one_slice_past_an_odd_gap_limit():
    structure = disc((20.0, 30.0), 6.0)
    click = np.array([[20.0, 30.0]])
    for at, joins in ((6, True), (7, False)):
        masks = np.zeros(SHAPE, bool)
        masks[0] = structure
        _, slices = grow_by_overlap(masks, [Candidate(at, click)], InscribedDiscDecoder(), 6.0, BoxFitting(gap_slices=5))
        assert slices == ([at] if joins else []), at


def test_growth_goes_on_past_a_click_whose_box_found_nothing():
    masks = np.zeros(SHAPE, bool)
    masks[0] = rectangle(slice(10, 20), slice(10, 20))
    decoder = FixedMasks({(1, 15, 15): rectangle(slice(10, 20), slice(10, 20))})  # (1, 50, 40): nothing
    grown, slices = grow_by_overlap(masks, candidates([(1, 50.0, 40.0), (1, 15.0, 15.0)]), decoder, 3.0,
                                    BoxFitting())
    assert slices == [1] and np.array_equal(grown[1], masks[0])


def test_growth_joins_at_exactly_half_inside_and_reports_only_slices_that_changed():
    masks = np.zeros(SHAPE, bool)
    masks[0] = rectangle(slice(10, 20), slice(15, 30))
    half_inside = rectangle(slice(10, 20), slice(10, 20))   # 100 px, 50 of them on slice 0's mask
    _, slices = grow_by_overlap(masks, candidates([(1, 15.0, 15.0)]), FixedMasks({(1, 15, 15): half_inside}), 3.0,
                                BoxFitting())
    assert slices == [1]
    masks[1] = rectangle(slice(5, 25), slice(5, 25))        # slice 1 already holds the region
    grown, slices = grow_by_overlap(masks, candidates([(1, 15.0, 15.0)]), FixedMasks({(1, 15, 15): half_inside}),
                                    3.0, BoxFitting())
    assert slices == [] and np.array_equal(grown, masks)


def test_growth_compares_with_other_slices_never_the_clicks_own():
    masks = np.zeros(SHAPE, bool)
    masks[0] = rectangle(slice(40, 50), slice(60, 70))      # far from the click's region
    masks[1] = rectangle(slice(10, 20), slice(10, 20))
    beside = rectangle(slice(10, 20), slice(15, 25))         # on slice 1, half on slice 1's own mask
    _, slices = grow_by_overlap(masks, candidates([(1, 20.0, 15.0)]), FixedMasks({(1, 20, 15): beside}), 3.0,
                                BoxFitting())
    assert slices == []


def test_growth_joins_from_the_next_slice_after():
    masks = np.zeros(SHAPE, bool)
    masks[4] = disc((20.0, 30.0), 6.0)
    _, slices = grow_by_overlap(masks, candidates([(3, 20.0, 30.0)]), InscribedDiscDecoder(), 6.0, BoxFitting())
    assert slices == [3]


def test_a_gap_slice_takes_the_box_of_the_nearer_neighbour():
    masks = np.zeros(SHAPE, bool)
    masks[0] = disc((20.0, 30.0), 6.0)
    masks[4] = disc((40.0, 30.0), 6.0)
    filled, done = fill_gaps(masks, InscribedDiscDecoder(), BoxFitting())
    assert done == [1, 2, 3]
    pad = BoxFitting().pad_px
    assert np.array_equal(filled[3], disc((40.0, 30.0), 6.0 + pad))   # 1 slice from slice 4, 3 from slice 0
    assert np.array_equal(filled[1], disc((20.0, 30.0), 6.0 + pad))


def test_growth_weighs_a_one_pixel_region_like_any_other():
    masks = np.zeros(SHAPE, bool)
    masks[0] = rectangle(slice(10, 20), slice(10, 20))
    pixel = rectangle(slice(15, 16), slice(15, 16))
    _, slices = grow_by_overlap(masks, candidates([(1, 15.0, 15.0)]), FixedMasks({(1, 15, 15): pixel}), 3.0,
                                BoxFitting())
    assert slices == [1]
