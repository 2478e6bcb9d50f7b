"""Trial (not adopted, docs/DEFAULT_MODEL.md): the clicks' box size chosen before the mean predicted IoU first falls.

Clicks that nothing competes with choose one box half-size from 6 to 96 mm, the smallest whose mean predicted IoU is
within the tolerance of the best (:func:`SPDSegmentLib.inference.box_fitting.choose_half_size`). Around a thin vessel
the predicted IoU rises again at a large size that takes in the tissue around it. Here, on the clicks' ladder only
(the one that goes to 96 mm), the choice is made among the sizes up to the one before the mean predicted IoU first
falls. With ``CLOSED=SHARE`` that choice is taken only where at least ``SHARE`` of the size sample's regions at the
chosen size reach none of their box's sides (the idea: a vessel's region closes inside a box larger than the vessel,
an organ's is cut by a box smaller than the organ); elsewhere the shipped choice stands. It prints, before each run's
line, the size chosen, the first peak's and the shipped one, and each size's mean predicted IoU and share of closed
regions.

Usage: [CLOSED=0.5] PYTHONPATH=SPDSegment:docs .venv/bin/python docs/box_peak_trials.py docs/click_runs.py \
    CASES.json CASE ...
"""

import os

import numpy as np

from SPDSegmentLib.inference import click_carrying as click_carrying_module
from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import box_around, region_holding, size_sample, smallest_near_best
from SPDSegmentLib.inference.click_carrying import ClickCarrying

from predictor_trials import box_sides_reached, run_given_script

CLICKS_LARGEST_MM = max(ClickCarrying().half_sizes_mm)
CLOSED_SHARE = float(os.environ["CLOSED"]) if "CLOSED" in os.environ else None
choose_as_shipped = predictor_module.choose_half_size


def choose_half_size(candidates, decode, spacing_mm, fitting):
    if CLICKS_LARGEST_MM not in fitting.half_sizes_mm:
        return choose_as_shipped(candidates, decode, spacing_mm, fitting)
    pick = size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    scores, closed = {}, {}
    for half_mm in sorted(fitting.half_sizes_mm):
        boxes = np.array([box_around(candidates[i].points_xy, half_mm / spacing_mm) for i in pick])
        masks, predicted_iou = decode(slices, boxes)
        scores[half_mm] = float(np.mean(predicted_iou))
        closed[half_mm] = float(np.mean([not box_sides_reached(region_holding(mask, candidates[i].points_xy), box)
                                         for i, mask, box in zip(pick, masks, boxes)]))
    sizes = sorted(scores)
    rising = [sizes[0]]
    for smaller, larger in zip(sizes, sizes[1:]):
        if scores[larger] < scores[smaller]:
            break
        rising.append(larger)
    shipped = smallest_near_best(scores, fitting.tolerance)
    peak = smallest_near_best({size: scores[size] for size in rising}, fitting.tolerance)
    half_mm = peak if CLOSED_SHARE is None or closed[peak] >= CLOSED_SHARE else shipped
    print(f"   chosen {half_mm:.0f} mm (first peak {peak:.0f}, shipped {shipped:.0f}); mean predicted IoU/closed share "
          + ", ".join(f"{size:.0f}:{scores[size]:.2f}/{closed[size]:.2f}" for size in sizes), flush=True)
    return half_mm, scores


predictor_module.choose_half_size = choose_half_size
click_carrying_module.choose_half_size = choose_half_size
run_given_script()
