"""Trial, not adopted: the continuity checks of clicks with a radius that follows the calibre of the structure they
lie in, measured by the backbone's decoder at the clicks (docs/DEFAULT_MODEL.md, "a continuity radius from the
clicks' calibre").

Clicks placed anywhere in a cross-section 80 mm across (a colon limb) lie farther apart from slice to slice than the
shipped radius (closeness 1/2 at 11.8 mm, sigma 10 mm), so the check rejects them. Here, where every positive prompt
is a click (a traced curve follows the centre, whatever the calibre), the shipped check runs first (the wider window
where the nearest slices keep fewer than 3 clicks); each click it keeps is decoded in boxes of LADDER mm half-size,
and the click's calibre is the equivalent diameter of the region holding it in the RULE (smallest or largest) of
those boxes whose region stays off the box's border. Where the median calibre exceeds THRESHOLD shipped radii, the
checks of SCOPE use closeness 1/2 at SHARE x calibre, sigma at most MAX mm: SCOPE=all every check of the run (the
nearest slices, the wider window, the other cross-sections and their chance of a stray neighbour), SCOPE=cross only
the check of the other cross-sections. EXTRA more prompted slices must vouch in the nearest slices' and the wider
window's checks where the radius was widened. Each run line of docs/hd95_parts.py follows a line with the calibre
and sigma.

Usage: [RULE=smallest LADDER="10 20 40 60" THRESHOLD=3 SHARE=0.5 MAX=35 SCOPE=all EXTRA=0] [PROTOCOLS=noise]
       PYTHONPATH=SPDSegment .venv/bin/python docs/continuity_calibre_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
"""

import os
import sys

import numpy as np

from SPDSegmentLib.inference import continuity_prior, predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import region_holding
from SPDSegmentLib.inference.prior_choice import accepted_by

import hd95_parts  # docs/, the script's own folder
from limb_ladder_trials import closed_within

RULE = os.environ.get("RULE", "smallest")
LADDER_MM = tuple(sorted(float(h) for h in os.environ.get("LADDER", "10 20 40 60").split()))
THRESHOLD_RADII = float(os.environ.get("THRESHOLD", "3"))
SHARE = float(os.environ.get("SHARE", "0.5"))
MAX_SIGMA_MM = float(os.environ.get("MAX", "35"))
SCOPE = os.environ.get("SCOPE", "all")
EXTRA_NEIGHBOURS = int(os.environ.get("EXTRA", "0"))
MIN_MEASURED_CLICKS = 3
SHIPPED_SIGMA_MM = continuity_prior.DEFAULT_SIGMA_MM
HALF_CLOSENESS = float(np.sqrt(2.0 * np.log(2.0)))
run_sigma = {"mm": SHIPPED_SIGMA_MM, "in_cross_check": False}
saliency_as_shipped = continuity_prior.continuity_saliency
chance_as_shipped = continuity_prior.chance_of_a_stray_neighbour
cross_section_as_shipped = continuity_prior.cross_section_saliency
predict_as_shipped = predictor_module.SpdPredictor.predict


def sigma_now() -> float:
    return run_sigma["mm"] if SCOPE == "all" or run_sigma["in_cross_check"] else SHIPPED_SIGMA_MM


def continuity_saliency(prompts, stack_shape, spacing_xy, neighbours, *args, **kwargs):
    if run_sigma["mm"] != SHIPPED_SIGMA_MM and not run_sigma["in_cross_check"]:
        neighbours += EXTRA_NEIGHBOURS
    return saliency_as_shipped(prompts, stack_shape, spacing_xy, neighbours, *args, **{**kwargs,
                                                                                       "sigma_mm": sigma_now()})


def chance_of_a_stray_neighbour(*args, **kwargs):
    return chance_as_shipped(*args, **{**kwargs, "sigma_mm": sigma_now()})


def cross_section_saliency(*args, **kwargs):
    run_sigma["in_cross_check"] = True
    try:
        return cross_section_as_shipped(*args, **kwargs)
    finally:
        run_sigma["in_cross_check"] = False


def ladder_regions(predictor, prompts, clicks, ladder_mm=LADDER_MM, rule=RULE) -> list:
    """Per click, the region holding it in the ``rule`` (smallest or largest) box of ``ladder_mm`` half-sizes around
    it whose region stays off the box's border (None where none does)."""
    spacing = predictor._frame.spacing_xy
    decode = predictor._base_decoder_boxes(prompts, None, None)
    regions = [None] * len(clicks)
    for half_mm in sorted(ladder_mm):
        measure = [i for i, region in enumerate(regions) if region is None or rule != "smallest"]
        if not measure:
            break
        half_px = half_mm / min(spacing)
        boxes = np.concatenate([clicks.xy[measure] - half_px, clicks.xy[measure] + half_px], axis=1)
        masks, _ = decode(clicks.slice_index[measure], boxes)
        for i, mask, box in zip(measure, masks, boxes):
            region = region_holding(mask, clicks.xy[i][None])
            if closed_within(region, box):
                regions[i] = region
    return regions


def click_calibres_mm(predictor, prompts, clicks) -> np.ndarray:
    """Per click, the equivalent diameter (mm) of its ladder region (0: none)."""
    pixel_mm2 = float(np.prod(predictor._frame.spacing_xy))
    return np.array([0.0 if region is None else 2.0 * np.sqrt(region.sum() * pixel_mm2 / np.pi)
                     for region in ladder_regions(predictor, prompts, clicks)])


def predict_with_calibre(self, prompts, options=None, progress=None, cancel=None):
    run_sigma["mm"] = SHIPPED_SIGMA_MM
    positive = prompts.select(prompts.positive)
    if (options or self.options).prior != "raw" and len(positive) and (positive.curve < 0).all():
        cpd = (options or self.options).cpd_config(self.config.cpd)
        shape, spacing, reach = self._stack.shape, self._frame.spacing_xy, self.box_fitting.gap_slices + 1
        kept = accepted_by(saliency_as_shipped(positive, shape, spacing, cpd.neighbours, reach=reach), positive,
                           cpd.tau)
        if kept.sum() < MIN_MEASURED_CLICKS:
            kept = accepted_by(saliency_as_shipped(positive, shape, spacing, cpd.neighbours, reach=reach,
                                                   window=continuity_prior.WIDE_WINDOW), positive, cpd.tau)
        if kept.sum() >= MIN_MEASURED_CLICKS:
            calibres = click_calibres_mm(self, prompts, positive.select(kept))
            measured = calibres[calibres > 0]
            calibre = float(np.median(measured)) if len(measured) else 0.0
            if calibre > THRESHOLD_RADII * SHIPPED_SIGMA_MM * HALF_CLOSENESS:
                run_sigma["mm"] = min(MAX_SIGMA_MM, SHARE * calibre / HALF_CLOSENESS)
            print(f"Clicks' calibre {calibre:.0f} mm over {len(measured)} of {int(kept.sum())} kept clicks: "
                  f"continuity sigma {run_sigma['mm']:.1f} mm", flush=True)
    return predict_as_shipped(self, prompts, options, progress, cancel)


if __name__ == "__main__":
    continuity_prior.continuity_saliency = continuity_saliency
    continuity_prior.chance_of_a_stray_neighbour = chance_of_a_stray_neighbour
    predictor_module.continuity_saliency = continuity_saliency
    predictor_module.cross_section_saliency = cross_section_saliency
    predictor_module.SpdPredictor.predict = predict_with_calibre
    hd95_parts.main(*sys.argv[1:])
