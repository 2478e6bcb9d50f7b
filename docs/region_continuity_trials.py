"""Trial: the continuity checks of clicks vouched for by the clicks' own cross-sections, not only by their distance
(docs/DEFAULT_MODEL.md, "a continuity radius from the clicks' calibre": a wider radius keeps the clicks of a wide
limb and, over a full CT, the stray clicks too).

Where every positive prompt is a click, each click is decoded by the backbone's own decoder in boxes of LADDER mm
half-size, and its cross-section is the region holding it in the smallest of those boxes whose region stays off the
box's border (none where no box closes it). In every continuity check of the run (the nearest slices, the wider
window, the other cross-sections) a prompted slice's closeness at a pixel is then the larger of the shipped one
(closeness 1/2 at 11.8 mm from its nearest click) and 1 inside the cross-section of one of its clicks, dilated by
GROW mm: a click anywhere in a limb is vouched for by a click anywhere in the same limb on the neighbouring slices,
while two stray clicks vouch for each other only where they lie in one closed region (one organ or muscle) on
several slices. Regions larger than CAP mm across (equivalent diameter) do not vouch.

Usage: [LADDER="10 20 40 60" GROW=0 CAP=1000] [PROTOCOLS=noise] PYTHONPATH=SPDSegment .venv/bin/python
       docs/region_continuity_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
"""

import os
import sys

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference import continuity_prior, predictor as predictor_module

import hd95_parts  # docs/, the script's own folder
from continuity_calibre_trials import ladder_regions

LADDER_MM = tuple(sorted(float(h) for h in os.environ.get("LADDER", "10 20 40 60").split()))
GROW_MM = float(os.environ.get("GROW", "0"))
CAP_MM = float(os.environ.get("CAP", "1000"))
predict_as_shipped = predictor_module.SpdPredictor.predict
run_regions: dict[tuple, np.ndarray] = {}


def click_key(t, xy) -> tuple:
    return int(t), round(float(xy[0]), 3), round(float(xy[1]), 3)


def click_regions(predictor, prompts, clicks) -> list:
    """Per click, its cross-section in the smallest ladder box that holds it closed, grown by GROW and dropped past
    CAP (None where none)."""
    spacing = predictor._frame.spacing_xy
    regions = ladder_regions(predictor, prompts, clicks, LADDER_MM, "smallest")
    cap_px = np.pi * (CAP_MM / 2) ** 2 / (spacing[0] * spacing[1])
    grow = int(round(GROW_MM / min(spacing)))
    return [None if r is None or r.sum() > cap_px else (ndimage.binary_dilation(r, iterations=grow) if grow else r)
            for r in regions]


def continuity_saliency(prompts, stack_shape, spacing_xy, neighbours=2, sigma_mm=continuity_prior.DEFAULT_SIGMA_MM,
                        reach=continuity_prior.DEFAULT_REACH_SLICES, window=1):
    """The shipped continuity prior, with each prompted slice's closeness raised to 1 inside its clicks' regions."""
    positive = prompts.select(prompts.positive)
    closeness = continuity_prior.prompt_closeness(positive, stack_shape[1:], spacing_xy, sigma_mm)
    for t, near in closeness.items():
        for point in positive.on_slice(t):
            region = run_regions.get(click_key(t, point))
            if region is not None:
                near[region] = 1.0
    return continuity_prior.combined_closeness(closeness, stack_shape, neighbours, reach, window)


def predict_with_regions(self, prompts, options=None, progress=None, cancel=None):
    run_regions.clear()
    positive = prompts.select(prompts.positive)
    if (options or self.options).prior != "raw" and len(positive) and (positive.curve < 0).all():
        regions = click_regions(self, prompts, positive)
        run_regions.update({click_key(t, xy): r for t, xy, r in zip(positive.slice_index, positive.xy, regions)
                            if r is not None})
        print(f"{len(run_regions)} of {len(positive)} clicks hold a closed cross-section", flush=True)
    try:
        return predict_as_shipped(self, prompts, options, progress, cancel)
    finally:
        run_regions.clear()


if __name__ == "__main__":
    continuity_prior.continuity_saliency = continuity_saliency
    predictor_module.continuity_saliency = continuity_saliency
    predictor_module.SpdPredictor.predict = predict_with_regions
    hd95_parts.main(*sys.argv[1:])
