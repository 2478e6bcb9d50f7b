"""Trial: a fitted box's cross-section followed past the box where it leaves it (a structure running in the slice).

The fitted boxes (:func:`SPDSegmentLib.inference.box_fitting.decode_candidates`) keep, of each cluster's mask, the
region holding its points, cut at the box. Where the structure runs in the slice's plane (the duodenum's horizontal
part on axial slices, the pulmonary trunk's branches, the transverse colon) its cross-section is longer than any
box, and the part past the box is never segmented: the reference far from the prediction (``missed95`` of
docs/hd95_parts.py). Here a region that reaches one or two sides of its box (a tube leaving it; three or four
sides is a box filled, left as it is) is decoded again with the box widened by ``STEP`` times its half-size on
those sides, up to ``STEPS`` times; the wider region joins it where, inside the previous box, it agrees with the
previous region (Dice >= ``AGREE``: the decoder still outlines the same structure there) and the widening adds at
most ``GROW`` times the first region's area (a leak into an organ adds more). A side counts as left only where the
region meets it along at most ``CONTACT`` of its length (a region along most of a side fills the box; CONTACT=inf
turns that off).

Usage: STEPS=3 STEP=2 AGREE=0.8 GROW=1.0 CONTACT=0.6 PYTHONPATH=SPDSegment:docs .venv/bin/python \
    docs/box_follow_trials.py docs/hd95_parts.py CASES.json default auto CASE ...
  prints, per run, how many regions were followed and by how many widenings, before the run's line.
"""

import os

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import box_around, dice, region_holding

from predictor_trials import box_sides_reached, run_given_script

STEPS = int(os.environ.get("STEPS", "3"))
STEP = float(os.environ.get("STEP", "2"))
AGREE = float(os.environ.get("AGREE", "0.8"))
GROW = float(os.environ.get("GROW", "1.0"))
CONTACT = float(os.environ.get("CONTACT", "0.6"))
MIN_CONTACT_PX = 2


def sides_left(region: np.ndarray, box: np.ndarray) -> list[int]:
    """The sides of ``box`` the region leaves it by: it reaches them with at least MIN_CONTACT_PX pixels along at most
    ``CONTACT`` of their length (a region along most of a side fills the box rather than leaves it)."""
    return box_sides_reached(region, box, MIN_CONTACT_PX, CONTACT)


def widened(box: np.ndarray, sides: list[int], by_px: float, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    x0, y0, x1, y1 = box
    x0 = max(0.0, x0 - by_px) if 0 in sides else x0
    y0 = max(0.0, y0 - by_px) if 1 in sides else y0
    x1 = min(width - 1.0, x1 + by_px) if 2 in sides else x1
    y1 = min(height - 1.0, y1 + by_px) if 3 in sides else y1
    return np.array([x0, y0, x1, y1])


def inside_box(region: np.ndarray, box: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = np.rint(box).astype(int)
    inside = np.zeros_like(region)
    inside[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = region[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1]
    return inside


RUN = {"followed": 0, "widenings": 0, "refused": 0}


def decode_candidates(candidates, decode, half_px, stack_shape):
    masks = np.zeros(stack_shape, bool)
    if not candidates:
        return masks
    slices = np.array([c.slice_index for c in candidates])
    boxes = [box_around(c.points_xy, half_px) for c in candidates]
    decoded, _ = decode(slices, np.array(boxes))
    regions = [region_holding(mask, c.points_xy) for c, mask in zip(candidates, decoded)]
    first_areas = [int(r.sum()) for r in regions]
    left_by = [sides_left(region, box) for region, box in zip(regions, boxes)]
    open_sides = {i: sides for i, sides in enumerate(left_by) if 1 <= len(sides) <= 2}
    followed = set()
    for _ in range(STEPS):
        if not open_sides:
            break
        order = sorted(open_sides)
        wider = [widened(boxes[i], open_sides[i], STEP * half_px, stack_shape[1:]) for i in order]
        again, _ = decode(slices[order], np.array(wider))
        still_open = {}
        for i, box, mask in zip(order, wider, again):
            region = region_holding(mask, candidates[i].points_xy)
            agrees = dice(inside_box(region, boxes[i]), regions[i]) >= AGREE
            added = int((region & ~regions[i]).sum())
            if not agrees or added == 0 or added > GROW * first_areas[i]:
                RUN["refused"] += 1
                continue
            regions[i], boxes[i] = region | regions[i], box
            followed.add(i)
            RUN["widenings"] += 1
            sides = [side for side in sides_left(region, box) if side in open_sides[i]]
            if sides:
                still_open[i] = sides
        open_sides = still_open
    RUN["followed"] += len(followed)
    for candidate, region in zip(candidates, regions):
        masks[candidate.slice_index] |= region
    return masks


predict_as_shipped = predictor_module.SpdPredictor.predict


def predict(self, *args, **kwargs):
    for key in RUN:
        RUN[key] = 0
    result = predict_as_shipped(self, *args, **kwargs)
    print(f"   followed {RUN['followed']} regions, {RUN['widenings']} widenings, {RUN['refused']} refused", flush=True)
    return result


predictor_module.decode_candidates = decode_candidates
predictor_module.SpdPredictor.predict = predict
run_given_script()
