"""Signals the box-size rule could read besides the decoder's predicted IoU, profiled for every candidate size on a
run's size sample (docs/DEFAULT_MODEL.md, "Looked at on 2026-12-07: a vessel crop that runs in the slice's plane,
more box-size signals, the CT window").

SPDSegmentLib.inference.box_fitting.choose_half_size decodes a sample of prompt clusters spread along the structure
with boxes of every half-size and takes the smallest whose mean predicted IoU is within 0.05 of the best (the fitted
boxes: 6-48 mm; the clicks' sizes of inference/click_carrying.py: 6-96 mm). Before each run line this prints, per
half-size (mm), over the sample:

- IoU: the mean predicted IoU (what the rule reads);
- Dice: the mean Dice of the region holding each cluster with the label on its slice (what the rule should find);
- stab: SAM's stability score, the area of that region with the mask logits above +1 over its area above -1;
- shift: the mean Dice of that region with the regions decoded from the same box moved diagonally by half its
  half-size (4 directions; the cluster stays inside): a region the decoder outlines stays where it is, a region
  that is the box moves with it;

then the size chosen and, where the chosen size lies above the first size whose predicted IoU falls at the next
size (the IoU's first peak), the ring contrast of each sampled region: how far the median intensity of what the
chosen size's region adds to the peak size's region lies from the peak region's median, in interquartile ranges of
the peak region ("-": nothing added). Nothing else changes: the run lines are the shipped code's.

Usage: PYTHONPATH=SPDSegment:docs .venv/bin/python docs/box_signal_trials.py hd95_parts CASES.json [MODEL] [PRIOR]
         [CASE ...]     (the fitted boxes: docs/hd95_parts.py's arguments; PROTOCOLS= as there)
       PYTHONPATH=SPDSegment:docs .venv/bin/python docs/box_signal_trials.py sparse_clicks CASES.json EVERY [CASE ...]
                        (the clicks' sizes: docs/sparse_clicks.py's arguments)
"""

import sys

import numpy as np
import torch

import SPDSegmentLib.inference.click_carrying as click_carrying
import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference import box_fitting

import box_size_profile  # docs/, the script's own folder
import hd95_parts
import scan_prior_trials
import sparse_clicks

STABILITY_OFFSET = 1.0  # segment-anything's stability_score_offset
SHIFT = 0.5  # of the box's half-size
DIRECTIONS = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], float)
_choose_half_size = box_fitting.choose_half_size
_set_volume = predictor_module.SpdPredictor.set_volume
held = {}  # the predictor whose volume is set (the label of the case in hand: scan_prior_trials.reference)


def set_volume_held(self, *args, **kwargs):
    result = _set_volume(self, *args, **kwargs)
    held["predictor"] = self
    return result


@torch.no_grad()
def stability(slices: np.ndarray, boxes: np.ndarray, candidates, pick) -> list[float]:
    """Each sampled cluster's region at logits > +offset over its region at logits > -offset (base decoder; the
    slices are encoded by the ``decode`` call before)."""
    predictor = held["predictor"]
    requests = [(int(t), np.zeros((0, 2)), np.zeros(0), box) for t, box in zip(slices, boxes)]
    logits, _ = predictor._decode_batch(requests, predictor.model.base_decoder())
    logits = predictor._frame.maps_to_slice(logits)[:, 0].cpu().numpy()
    scores = []
    for slice_logits, i in zip(logits, pick):
        points = candidates[i].points_xy
        inner = box_fitting.region_holding(slice_logits > STABILITY_OFFSET, points).sum()
        outer = box_fitting.region_holding(slice_logits > -STABILITY_OFFSET, points).sum()
        scores.append(float(inner / outer) if outer else 0.0)
    return scores


def shift_agreement(regions, boxes: np.ndarray, slices: np.ndarray, decode, candidates, pick,
                    half_px: float) -> list[float]:
    """Each sampled region's mean Dice with the regions of its box moved by ``SHIFT`` of the half-size."""
    agreement = np.zeros(len(pick))
    for direction in DIRECTIONS:
        moved, _ = decode(slices, boxes + np.tile(direction * SHIFT * half_px, 2))
        for k, (mask, i) in enumerate(zip(moved, pick)):
            agreement[k] += box_fitting.dice(box_fitting.region_holding(mask, candidates[i].points_xy),
                                             regions[k]) / len(DIRECTIONS)
    return agreement.tolist()


def choose_half_size_profiled(candidates, decode, spacing_mm, fitting):
    pick = box_fitting.size_sample(candidates, fitting)
    slices = np.array([candidates[i].slice_index for i in pick])
    columns, ious, regions_by_size = [], {}, {}
    for half_mm in fitting.half_sizes_mm:
        half_px = half_mm / spacing_mm
        boxes = np.array([box_fitting.box_around(candidates[i].points_xy, half_px) for i in pick])
        masks, iou = decode(slices, boxes)
        regions = [box_fitting.region_holding(mask, candidates[i].points_xy) for mask, i in zip(masks, pick)]
        dice = [box_fitting.dice(region, scan_prior_trials.reference["stack"][t]) for region, t in zip(regions, slices)]
        stab = stability(slices, boxes, candidates, pick)
        shift = shift_agreement(regions, boxes, slices, decode, candidates, pick, half_px)
        ious[half_mm], regions_by_size[half_mm] = float(np.mean(iou)), regions
        columns.append(f"{half_mm:.0f}: {np.mean(iou):.2f}/{np.mean(dice):.2f}/{np.mean(stab):.2f}/"
                       f"{np.mean(shift):.2f}")
    half_mm, scores = _choose_half_size(candidates, decode, spacing_mm, fitting)
    sizes = list(fitting.half_sizes_mm)
    peak = next((h for h, larger in zip(sizes, sizes[1:]) if ious[larger] < ious[h]), sizes[-1])
    contrasts = ""
    if half_mm > peak:
        image = held["predictor"]._stack
        values = [box_size_profile.ring_contrast(small, large, image[t]) for small, large, t in
                  zip(regions_by_size[peak], regions_by_size[half_mm], slices)]
        contrasts = f"; IoU's first peak {peak:.0f} mm, ring contrasts " + " ".join(
            "-" if c is None else f"{c:.1f}" for c in values)
    print("  half-size: IoU/Dice/stab/shift  " + "  ".join(columns) + f"  -> {half_mm:.0f} mm{contrasts}",
          flush=True)
    return half_mm, scores


if __name__ == "__main__":
    predictor_module.choose_half_size = choose_half_size_profiled
    click_carrying.choose_half_size = choose_half_size_profiled
    predictor_module.SpdPredictor.set_volume = set_volume_held
    script, arguments = sys.argv[1], sys.argv[2:]
    if script == "hd95_parts":
        hd95_parts.load_named_cases = scan_prior_trials.cases_kept_as_reference
        hd95_parts.main(*arguments)
    elif script == "sparse_clicks":
        sparse_clicks.load_named_cases = scan_prior_trials.cases_kept_as_reference
        sparse_clicks.main(*arguments)
    else:
        sys.exit(f"the first argument names the script whose runs are profiled: hd95_parts or sparse_clicks, "
                 f"got {script!r}")
