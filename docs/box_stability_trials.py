"""Trial: the fitted boxes' size chosen by how stable the mask is when the box grows, not by predicted IoU.

The shipped choice (:func:`SPDSegmentLib.inference.box_fitting.choose_half_size`) takes the smallest half-size
whose mean predicted IoU is within 0.05 of the best; on thin vessels of low contrast the predicted IoU hardly
changes with the size (0.63–0.72 from 6 to 48 mm on the CT's left iliac vein) and a 36 mm box can win. Here every
size of the sample is decoded, and the region holding each cluster's points is compared with the region at the
next larger size: a box that encloses the structure gives nearly the same mask when it grows, one that cuts it
does not, nor one that takes in a neighbour. The smallest size whose mean Dice with the next size reaches
``STABLE`` is taken; where none does, the shipped choice stands.

Usage: STABLE=0.9 PYTHONPATH=SPDSegment .venv/bin/python docs/box_stability_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
  (or docs/sparse_clicks.py and its arguments); prints each run's sizes and their stability before its line.
"""

import os

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import box_around, dice, region_holding, size_sample

from predictor_trials import run_given_script

STABLE = float(os.environ.get("STABLE", "0.9"))
choose_as_shipped = predictor_module.choose_half_size


def choose_half_size(candidates, decode, spacing_mm, fitting):
    shipped_mm, scores = choose_as_shipped(candidates, decode, spacing_mm, fitting)
    pick = size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    regions = []
    for half_mm in fitting.half_sizes_mm:
        boxes = np.array([box_around(candidates[i].points_xy, half_mm / spacing_mm) for i in pick])
        masks = decode(slices, boxes)[0]
        regions.append([region_holding(mask, candidates[i].points_xy, 2) for i, mask in zip(pick, masks)])
    sizes = fitting.half_sizes_mm
    stability = {sizes[s]: float(np.mean([dice(a, b) for a, b in zip(regions[s], regions[s + 1])]))
                 for s in range(len(sizes) - 1)}
    stable = [size for size, value in stability.items() if value >= STABLE]
    half_mm = stable[0] if stable else shipped_mm
    print(f"   stability {STABLE}: {half_mm:.0f} mm (shipped {shipped_mm:.0f}); Dice with the next size "
          + ", ".join(f"{size:.0f}:{value:.2f}" for size, value in stability.items()), flush=True)
    return half_mm, scores


predictor_module.choose_half_size = choose_half_size
run_given_script()
