"""Known answers for the cross-sections the clicks of nearby slices share (inference/shared_cross_sections.py): which
clicks have a closed cross-section, which cross-sections nearby slices match more often than chance, and which of
those join a segment that misses them. The decoder is test_click_carrying.py's stand-in that segments a known object
within each box; the real backbone runs in test_real_scan_routes.py."""

import numpy as np

from SPDSegmentLib.inference.prompts import Prompts
from SPDSegmentLib.inference.shared_cross_sections import (closed_cross_sections, join_shared_cross_sections,
                                                           shared_cross_sections, slices_missing_their_clicks)
from stand_ins import disc
from test_click_carrying import ObjectDecoder

SHAPE = (20, 100, 120)
LEFT, RIGHT, ORGAN = (25.0, 50.0), (95.0, 50.0), (60.0, 50.0)
BACKGROUND = ((60.0, 5.0), (60.0, 95.0))


def objects_and_image() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two limbs (discs of radius 5 px) on slices 3-16 either side of an organ (radius 25 px), and a band across the
    whole slice below them (no box of the ladder closes it); the image is tissue everywhere."""
    left, right, organ, band = (np.zeros(SHAPE, bool) for _ in range(4))
    left[3:17], right[3:17], organ[3:17] = disc(LEFT, 5, SHAPE[1:]), disc(RIGHT, 5, SHAPE[1:]), disc(ORGAN, 25,
                                                                                                  SHAPE[1:])
    band[3:17, 80:92] = True
    image = np.where(left | right | organ | band, 0.7, 0.2).astype(np.float32)
    return left | right | organ | band, left, image


def clicks(rows) -> Prompts:
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def four_a_slice(on_right: set[int], left_too: bool = True) -> Prompts:
    """Four clicks on every slice of 3-16: the left limb (unless ``left_too`` is False on the ``on_right`` slices),
    the organ, and background, one background click moved to the right limb on the ``on_right`` slices."""
    rows = []
    for t in range(3, 17):
        rows += [(t, *LEFT)] if left_too or t not in on_right else [(t, *BACKGROUND[1])]
        rows += [(t, *ORGAN), (t, *BACKGROUND[0]), (t, *(RIGHT if t in on_right else BACKGROUND[1]))]
    return clicks(rows)


def test_a_click_has_the_cross_section_the_smallest_closing_box_holds_and_none_off_any_object_or_on_the_band():
    objects, _, _ = objects_and_image()
    prompts = clicks([(5, *LEFT), (5, *ORGAN), (5, *BACKGROUND[0]), (5, 60.0, 86.0)])
    decoder = ObjectDecoder(objects)
    left, organ, background, band = closed_cross_sections(prompts, decoder, spacing_mm=1.0)
    assert np.array_equal(left, disc(LEFT, 5, SHAPE[1:]))
    assert np.array_equal(organ, disc(ORGAN, 25, SHAPE[1:]))  # the 40 mm box closes it, not the 10 or 20 mm ones
    assert background is None and band is None
    # each click is decoded up the ladder (10, 20, 40, 60 mm) only until a box closes it: the limb's in the first
    assert len(decoder.slices) == 4 + 3 + 3 + 2
    # on 4 mm pixels the same ladder spans a quarter of the pixels: the organ stays open in every box
    assert closed_cross_sections(prompts, ObjectDecoder(objects), spacing_mm=4.0)[1] is None


def test_a_cross_section_is_shared_where_nearby_slices_match_it_more_often_than_chance():
    """The organ is clicked on every slice but covers a sixth of the tissue, so four clicks a slice hit it by chance
    about half the time; a limb clicked on three neighbouring slices is far less likely to be hit by chance."""
    objects, _, image = objects_and_image()
    prompts = four_a_slice(on_right={8, 9, 10, 14})
    regions = closed_cross_sections(prompts, ObjectDecoder(objects), spacing_mm=1.0)
    shared = shared_cross_sections(prompts, regions, image)
    at = {(c.slice_index, tuple(np.argwhere(c.region).mean(axis=0).round())) for c in shared}
    right = {(t, (50.0, 95.0)) for t in (8, 9, 10)}
    left = {(t, (50.0, 25.0)) for t in range(3, 17)}
    assert at == right | left  # not the organ, and not the right limb's lone click on slice 14
    matched = {c.slice_index: c.matched_slices for c in shared if c.region[50, 95]}
    assert matched == {8: [9, 10], 9: [8, 10], 10: [8, 9]}
    # with an organ a tenth of the size, the same clicks on it every slice are more than chance
    small_organ = (objects & ~disc(ORGAN, 25, SHAPE[1:])) | disc(ORGAN, 8, SHAPE[1:])
    regions = closed_cross_sections(prompts, ObjectDecoder(small_organ), spacing_mm=1.0)
    assert any(c.region[50, 60] for c in shared_cross_sections(prompts, regions, image))


def test_a_shared_cross_section_joins_only_on_the_word_of_slices_whose_clicks_the_segment_misses():
    """The segment is the left limb. Where the right limb's clicks are stray clicks on slices whose true click the
    segment holds, nothing joins; where they replace the left limb's click, the right limb joins on those slices."""
    objects, segment, image = objects_and_image()
    stray = four_a_slice(on_right={8, 9, 10})
    shared = shared_cross_sections(stray, closed_cross_sections(stray, ObjectDecoder(objects), 1.0), image)
    assert slices_missing_their_clicks(segment, stray) == set()
    joined, count = join_shared_cross_sections(segment, shared, stray)
    assert count == 0 and np.array_equal(joined, segment)

    hopping = four_a_slice(on_right={8, 9, 10}, left_too=False)
    shared = shared_cross_sections(hopping, closed_cross_sections(hopping, ObjectDecoder(objects), 1.0), image)
    assert slices_missing_their_clicks(segment, hopping) == {8, 9, 10}
    joined, count = join_shared_cross_sections(segment, shared, hopping)
    right = objects & ~segment & disc(RIGHT, 5, SHAPE[1:])
    assert count == 3 and np.array_equal(joined, segment | (right & np.isin(np.arange(20), [8, 9, 10])[:, None, None]))
    # a segment that holds the right limb on slice 9: that cross-section is its own, and slices 8 and 10 keep one
    # slice each (the other) whose clicks it misses, too few to vouch
    touching = segment.copy()
    touching[9] |= disc(RIGHT, 5, SHAPE[1:])
    assert slices_missing_their_clicks(touching, hopping) == {8, 10}
    assert join_shared_cross_sections(touching, shared, hopping)[1] == 0
