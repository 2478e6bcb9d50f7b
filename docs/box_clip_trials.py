"""Trial: grow the fitted boxes while the structure's masks fill them (a structure wider than the box chosen).

The fitted boxes' size is the smallest half-size whose mean predicted IoU is within 0.05 of the best
(:func:`SPDSegmentLib.inference.box_fitting.choose_half_size`). On a large organ (the clicked liver) that choice
lands at 18–36 mm and every mask fills its box. Here, after the shipped choice, the sample clusters are decoded at
the chosen size; while at least ``SHARE`` of the sample's masks (the region holding the cluster's points) touch
at least 3 of their box's 4 sides, the next larger size of ``SIZES`` is taken instead. A mask that reaches three
sides of its box was cut by the box; a tube crossing the box reaches two.

Usage: SHARE=0.5 PYTHONPATH=SPDSegment .venv/bin/python docs/box_clip_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
  (or docs/sparse_clicks.py and its arguments); prints each run's sizes and clipped shares before its line.
"""

import os

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import box_around, region_holding, size_sample

from predictor_trials import box_sides_reached, run_given_script

SHARE = float(os.environ.get("SHARE", "0.5"))
SIZES = (6.0, 9.0, 12.0, 18.0, 24.0, 36.0, 48.0, 72.0, 96.0, 144.0)
choose_as_shipped = predictor_module.choose_half_size


def clipped_share(candidates, decode, spacing_mm, fitting, half_mm) -> float:
    pick = size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    boxes = np.array([box_around(candidates[i].points_xy, half_mm / spacing_mm) for i in pick])
    masks = decode(slices, boxes)[0]
    touched = [len(box_sides_reached(region_holding(mask, candidates[i].points_xy, 2), box))
               for i, mask, box in zip(pick, masks, boxes)]
    return float(np.mean([count >= 3 for count in touched]))


def choose_half_size(candidates, decode, spacing_mm, fitting):
    half_mm, scores = choose_as_shipped(candidates, decode, spacing_mm, fitting)
    steps = []
    while True:
        share = clipped_share(candidates, decode, spacing_mm, fitting, half_mm)
        steps.append(f"{half_mm:.0f}:{share:.2f}")
        larger = [size for size in SIZES if size > half_mm]
        if share < SHARE or not larger:
            break
        half_mm = larger[0]
    print(f"   clipped share by size {', '.join(steps)} -> {half_mm:.0f} mm", flush=True)
    return half_mm, scores


predictor_module.choose_half_size = choose_half_size
run_given_script()
