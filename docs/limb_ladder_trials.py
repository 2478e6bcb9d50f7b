"""Trial, not adopted (docs/DEFAULT_MODEL.md, "the development CT in slabs of 20 slices"): the scan prior's limb
seeds decoded with a ladder of box sizes, so that a click on a colon limb far wider than the fitted box seeds the
limb's whole cross-section rather than a compartment of it.

Each click outside the segment (SPDSegmentLib.inference.scan_prior.limbs_the_clicks_point_at) is decoded in the
fitted box and in boxes of FACTORS times its half-size; its seed is the mask of the largest box whose region holding
the click stays off that box's border (a closed cross-section), else the fitted box's. THETA, CONFIRM and CAP are the
rules' probe score, confirmations and largest seed (docs/scan_prior_trials.py); each run line of docs/hd95_parts.py
follows that script's lines on the refused seeds and the carried limbs.

Usage: [FACTORS="2 4" THETA=0.5 CONFIRM=2 CAP=3] [PROTOCOLS=noise] PYTHONPATH=SPDSegment .venv/bin/python
       docs/limb_ladder_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
"""

import os
import sys

import numpy as np

import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import region_holding
from SPDSegmentLib.inference.scan_prior import (LARGEST_LIMB_SEED, LIMB_CONFIRMATIONS, PROBE_SCORE, LimbRules,
                                                limbs_the_clicks_point_at)

import hd95_parts  # docs/, the script's own folder
import scan_prior_trials

FACTORS = tuple(float(f) for f in os.environ.get("FACTORS", "2 4").split())
RULES = LimbRules(probe_score=float(os.environ.get("THETA", PROBE_SCORE)),
                  largest_seed=float(os.environ.get("CAP", LARGEST_LIMB_SEED)),
                  confirmations=int(os.environ.get("CONFIRM", LIMB_CONFIRMATIONS)))


def closed_within(region: np.ndarray, box: np.ndarray) -> bool:
    ys, xs = np.nonzero(region)
    return bool(len(xs)) and xs.min() > box[0] + 1 and ys.min() > box[1] + 1 and xs.max() < box[2] - 1 \
        and ys.max() < box[3] - 1


def seeds_on_a_ladder(decode):
    """``decode`` whose first call (the seeds' boxes) returns, per box, the ladder's largest closed region's mask."""
    first_call = [True]

    def decode_seeds(slices, boxes):
        if not first_call[0]:
            return decode(slices, boxes)
        first_call[0] = False
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        chosen, extra = decode(slices, boxes)
        chosen = chosen.copy()
        for factor in FACTORS:
            half = (boxes[:, 2:] - boxes[:, :2]) / 2 * factor
            grown = np.concatenate([centres - half, centres + half], axis=1)
            masks, _ = decode(slices, grown)
            for i, (mask, box) in enumerate(zip(masks, grown)):
                if closed_within(region_holding(mask, centres[i][None]), box):
                    chosen[i] = mask
        return chosen, extra

    return decode_seeds


def limbs_with_ladder_seeds(masks, scores, image, decode, clicks, half_px, lower, upper, settings, *_):
    found = limbs_the_clicks_point_at(masks, scores, image, seeds_on_a_ladder(decode), clicks, half_px, lower,
                                      upper, settings, RULES)
    scan_prior_trials.print_found(found, scores, RULES.probe_score)
    return found


if __name__ == "__main__":
    predictor_module.limbs_the_clicks_point_at = limbs_with_ladder_seeds
    hd95_parts.load_named_cases = scan_prior_trials.cases_kept_as_reference
    hd95_parts.main(*sys.argv[1:])
