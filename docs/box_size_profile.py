"""What each candidate box size of the fitted boxes gives on a run's size sample, beside the size the rule chose
(docs/DEFAULT_MODEL.md, "the fitted boxes' sizes against the label").

SPDSegmentLib.inference.box_fitting.choose_half_size decodes the structure's size sample (8 prompt clusters spread
along it) with boxes of every half-size and takes the smallest whose mean predicted IoU is within 0.05 of the best.
Before each run line of docs/hd95_parts.py this prints, per half-size (mm): the sample's mean predicted IoU, the mean
Dice of the region holding each cluster with the label on its slice, the share of those regions that stay off their
box's border (closed), their mean share of the box's area (fill), their median area (mm^2) and the median
centredness of the cluster's points in their region (the deepest point's depth there over the region's deepest
point; a traced curve's point lies at its structure's centre); then the size chosen. The run lines are the shipped
code's, except with SIZE_CAP=least-fill: a trial (not adopted) that caps the chosen size at the one whose regions
fill the least of their boxes (the smallest on a tie), and SIZE_CAP=least-fill-closed: the same among the sizes whose
regions stay off their box's border on half the sample or more (all sizes if none does); SIZE_CAP=closed: the same
but no cap where no size closes on half the sample (the rule as an engine would apply it). SIZE_CAP=unalike: the
closed cap only where what the chosen size's regions add to the cap's is unlike the cap's regions in the image (the
added ring's median intensity more than UNALIKE (default 1) of the cap's regions' interquartile ranges from their
median) on half the sample or more: a vessel's larger box takes the fat around it, an organ's more of the organ;
where the closed cap would bind, it prints each sampled region's ring contrast ("-": nothing added) first.

Usage: [SIZE_CAP=least-fill|least-fill-closed|closed|unalike [UNALIKE=1]] [PROTOCOLS=centerline]
       PYTHONPATH=SPDSegment:docs .venv/bin/python docs/box_size_profile.py CASES.json [MODEL] [PRIOR] [CASE ...]
       (the arguments of docs/hd95_parts.py)
"""

import os
import sys

import numpy as np
from scipy import ndimage

import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference import box_fitting

import hd95_parts  # docs/, the script's own folder
import scan_prior_trials
from limb_ladder_trials import closed_within

_choose_half_size = predictor_module.choose_half_size
SIZE_CAP = os.environ.get("SIZE_CAP", "")
if SIZE_CAP not in ("", "least-fill", "least-fill-closed", "closed", "unalike"):
    sys.exit(f"SIZE_CAP must be least-fill, least-fill-closed, closed or unalike, got {SIZE_CAP!r}")
UNALIKE = float(os.environ.get("UNALIKE", "1"))
scan = {}  # the predictor's intensity stack of the volume in hand


def set_volume_kept(self, *args, **kwargs):
    result = _set_volume(self, *args, **kwargs)
    scan["stack"] = self._stack
    return result


def ring_contrast(small: np.ndarray, large: np.ndarray, image: np.ndarray) -> float | None:
    """How far the median intensity of what ``large`` adds to ``small`` lies from ``small``'s median, in
    interquartile ranges of ``small`` (None where it adds nothing or ``small`` is empty)."""
    ring = large & ~small
    if not ring.any() or not small.any():
        return None
    q1, median, q3 = np.percentile(image[small], [25, 50, 75])
    return float(abs(np.median(image[ring]) - median) / max(q3 - q1, 1e-3))


def centredness(region: np.ndarray, points_xy: np.ndarray) -> float:
    """The depth of the deepest of ``points_xy`` in ``region`` over the region's deepest point (0 outside it)."""
    if not region.any():
        return 0.0
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    xy = np.rint(points_xy).astype(int)
    at = depth[np.clip(xy[:, 1], 0, region.shape[0] - 1), np.clip(xy[:, 0], 0, region.shape[1] - 1)].max()
    return float(at / depth.max())


def choose_half_size_profiled(candidates, decode, spacing_mm, fitting):
    truth = scan_prior_trials.reference["stack"]
    pick = box_fitting.size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    columns, fills, closed_share, regions_by_size = [], {}, {}, {}
    for half_mm in fitting.half_sizes_mm:
        boxes = np.array([box_fitting.box_around(candidates[i].points_xy, half_mm / spacing_mm) for i in pick])
        masks, iou = decode(slices, boxes)
        regions = [box_fitting.region_holding(mask, candidates[i].points_xy) for mask, i in zip(masks, pick)]
        dice = [box_fitting.dice(region, truth[t]) for region, t in zip(regions, slices)]
        closed = [closed_within(region, box) for region, box in zip(regions, boxes)]
        fill = [region.sum() / ((box[2] - box[0]) * (box[3] - box[1])) for region, box in zip(regions, boxes)]
        fills[half_mm], closed_share[half_mm] = float(np.mean(fill)), float(np.mean(closed))
        regions_by_size[half_mm] = regions
        area = [region.sum() * spacing_mm ** 2 for region in regions]
        centred = [centredness(region, candidates[i].points_xy) for region, i in zip(regions, pick)]
        columns.append(f"{half_mm:.0f}: {np.mean(iou):.2f}/{np.mean(dice):.2f}/{np.mean(closed):.2f}/"
                       f"{np.mean(fill):.2f}/{np.median(area):.0f}/{np.median(centred):.2f}")
    half_mm, scores = _choose_half_size(candidates, decode, spacing_mm, fitting)
    if SIZE_CAP:
        allowed = [h for h in fills if SIZE_CAP == "least-fill" or round(closed_share[h], 2) >= 0.5]
        allowed = allowed or ([] if SIZE_CAP == "closed" else list(fills))
        cap = min(allowed, key=lambda h: (round(fills[h], 2), h)) if allowed else half_mm
        if SIZE_CAP == "unalike" and cap < half_mm:
            contrasts = [ring_contrast(small, large, scan["stack"][t]) for small, large, t in
                         zip(regions_by_size[cap], regions_by_size[half_mm], slices)]
            unalike = [c > UNALIKE for c in contrasts if c is not None]
            print(f"  ring contrast {cap:.0f} -> {half_mm:.0f} mm: " + " ".join(
                "-" if c is None else f"{c:.1f}" for c in contrasts), flush=True)
            cap = cap if unalike and np.mean(unalike) >= 0.5 else half_mm
        half_mm = min(half_mm, cap)
    print("  half-size: IoU/Dice/closed/fill/area/centred  " + "  ".join(columns) + f"  -> {half_mm:.0f} mm",
          flush=True)
    return half_mm, scores


if __name__ == "__main__":
    predictor_module.choose_half_size = choose_half_size_profiled
    _set_volume = predictor_module.SpdPredictor.set_volume
    predictor_module.SpdPredictor.set_volume = set_volume_kept
    hd95_parts.load_named_cases = scan_prior_trials.cases_kept_as_reference
    hd95_parts.main(*sys.argv[1:])
