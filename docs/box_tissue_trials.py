"""Trial (not adopted, docs/DEFAULT_MODEL.md): the clicks' box sizes stopped where the masks leave the clicked tissue.

Clicks that nothing competes with choose one box half-size from 6 to 96 mm by the clusters' mean predicted IoU
(:func:`SPDSegmentLib.inference.click_carrying.clicked_masks`, and the continuity route's fitted boxes when such
clicks form a structure). Around a vein in the liver the predicted IoU rises again at the liver's size. Here the
sizes are tried from the smallest up, and the ladder stops before the first size whose masks' median intensity
departs from the clicked tissue's by more than ``SDS`` robust standard deviations (the median over the size sample
of each cluster's departure; a cluster's reference is its region at the smallest size with at least 4 pixels, its
``click_carrying.robust_intensity``, the standard deviation at least ``INTENSITY_SD_FLOOR``). Only the clicks' sizes
(a ladder that goes past 48 mm) are stopped, unless ``ALL=1``: then the fitted boxes' too.

With ``REFERENCE=click`` the reference is the clicked tissue itself, not the smallest box's region: the median
intensity within ``CLICK_MM`` (3 mm, at least one pixel) of the cluster's points, and a size's departure is the
distance of its region's median from it in the region's own robust standard deviations (at least
``INTENSITY_SD_FLOOR``). The idea: a region that is mostly other tissue around a small bright click departs, while an
organ's region, holding the clicked tissue and its other parts, spreads as widely as it departs. ``SDS=inf`` stops
nothing and prints the departures.

This runs docs/sparse_clicks.py, docs/few_clicks.py, docs/click_runs.py or docs/hd95_parts.py (any script that builds
one predictor) with the rule, and prints, before each run's line, the size chosen and, for each size tried, the
sample's mean predicted IoU and median departure (in robust standard deviations; 0 at the smallest size, the
reference, unless ``REFERENCE=click``).

Usage: SDS=2 PYTHONPATH=SPDSegment .venv/bin/python docs/box_tissue_trials.py docs/few_clicks.py \
    --protocols spread,one-slice,close CASES.json CASE ...
"""

import os

import numpy as np

from SPDSegmentLib.inference import click_carrying as click_carrying_module
from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import (HALF_SIZES_MM, box_around, region_holding, size_sample,
                                                 smallest_near_best)
from SPDSegmentLib.inference.click_carrying import INTENSITY_SD_FLOOR, robust_intensity

from predictor_trials import run_given_script

MAX_DEPARTURE_SDS = float(os.environ["SDS"])
EVERY_LADDER = os.environ.get("ALL") == "1"
MIN_REFERENCE_PX = 4
CLICK_REFERENCE = os.environ.get("REFERENCE", "smallest") == "click"
CLICK_MM = 3.0
volume = {}
set_volume_as_shipped = predictor_module.SpdPredictor.set_volume


def set_volume(self, *args, **kwargs):
    set_volume_as_shipped(self, *args, **kwargs)
    volume["stack"] = self._stack


def choose_half_size(candidates, decode, spacing_mm, fitting):
    if not EVERY_LADDER and max(fitting.half_sizes_mm) <= max(HALF_SIZES_MM):
        return choose_as_shipped(candidates, decode, spacing_mm, fitting)
    pick = size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    images = volume["stack"][slices]
    references = [None] * len(pick)
    scores, stopped, tried = {}, None, []
    for half_mm in sorted(fitting.half_sizes_mm):
        boxes = np.array([box_around(candidates[i].points_xy, half_mm / spacing_mm) for i in pick])
        masks, predicted_iou = decode(slices, boxes)
        departures = []
        for k, (i, mask, image) in enumerate(zip(pick, masks, images)):
            region = region_holding(mask, candidates[i].points_xy)
            if CLICK_REFERENCE:
                if references[k] is None:
                    references[k] = clicked_intensity(image, candidates[i].points_xy, CLICK_MM / spacing_mm)
                if region.any():
                    median, sd = robust_intensity(image[region])
                    departures.append(abs(median - references[k]) / max(sd, INTENSITY_SD_FLOOR))
            elif references[k] is None:
                if region.sum() >= MIN_REFERENCE_PX:
                    references[k] = robust_intensity(image[region])
            elif region.any():
                median, sd = references[k]
                departures.append(abs(float(np.median(image[region])) - median) / max(sd, INTENSITY_SD_FLOOR))
        departure = float(np.median(departures)) if departures else 0.0
        tried.append(f"{half_mm:.0f}:{float(np.mean(predicted_iou)):.2f}/{departure:.1f}")
        if departure > MAX_DEPARTURE_SDS:
            stopped = half_mm
            break
        scores[half_mm] = float(np.mean(predicted_iou))
    half_mm = smallest_near_best(scores, fitting.tolerance)
    print(f"   tissue stop {MAX_DEPARTURE_SDS} sd: {half_mm:.0f} mm; size:IoU/departure {' '.join(tried)}"
          + (f"; stopped at {stopped:.0f} mm" if stopped else ""), flush=True)
    return half_mm, scores


def clicked_intensity(image: np.ndarray, points_xy: np.ndarray, radius_px: float) -> float:
    """The median intensity of ``image`` within ``radius_px`` (at least one pixel) of any of the points."""
    reach = max(1, int(round(radius_px)))
    ys, xs = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    disc = xs ** 2 + ys ** 2 <= reach ** 2
    height, width = image.shape
    values = [image[np.clip(int(round(y)) + ys[disc], 0, height - 1), np.clip(int(round(x)) + xs[disc], 0, width - 1)]
              for x, y in points_xy]
    return float(np.median(np.concatenate(values)))


choose_as_shipped = predictor_module.choose_half_size
predictor_module.SpdPredictor.set_volume = set_volume
predictor_module.choose_half_size = choose_half_size
click_carrying_module.choose_half_size = choose_half_size
run_given_script()
