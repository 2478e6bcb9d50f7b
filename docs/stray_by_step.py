"""Which step of the continuity route leaves a run's stray regions (docs/DEFAULT_MODEL.md, "what a curve's HD95
measures on a many-limbed label").

Before each run line of docs/hd95_parts.py this prints, after every step of the continuity route's fitted boxes
(SPDSegmentLib.inference.box_fitting: each kept cluster decoded, the 3D cleanup, growth by overlap, the gaps filled)
and of the two steps that may follow on a traced curve (the tuned decoder's outline where it was drawn, the learned
route on the slices where the learned prior agrees with the prompts), the stray95 and missed95 (mm) of the masks that
step returned against the label, and the voxels they hold; the run line then gives the segment the run returned.
With SKIP_AGREED=1 (a trial, not adopted) the learned route on the agreed slices is left out: the masks stay as the
steps before it left them. With CONNECTED=1 (a trial) that step keeps only the regions of its result that connect in
3D (face neighbours: SPDSegmentLib.inference.click_carrying.overlapping_regions) to the masks the steps before it
left; with CONNECTED=slice, on each slice only the regions of its result that overlap the mask the steps before it
left there (a slice they left empty keeps the step's mask).

Usage: [SKIP_AGREED=1 | CONNECTED=1|slice] [PROTOCOLS=centerline] PYTHONPATH=SPDSegment:docs .venv/bin/python
       docs/stray_by_step.py CASES.json [MODEL] [PRIOR] [CASE ...]  (the arguments of docs/hd95_parts.py)
"""

import os
import sys

import numpy as np
import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.click_carrying import overlapping_regions
from SPDSegmentLib.inference.metrics import surface_distances
from SPDSegmentLib.inference.slices import from_stack

import hd95_parts  # docs/, the script's own folder
import scan_prior_trials

STEPS = ("decode_candidates", "settle_regions", "grow_by_overlap", "fill_gaps")
METHOD_STEPS = ("_tuned_outline", "_learned_on_agreed_slices")


def reported(name, step):
    def step_reported(*args, **kwargs):
        result = step(*args, **kwargs)
        stack = result if isinstance(result, np.ndarray) else result[0]
        if stack is not None and stack.any():
            case = scan_prior_trials.reference["case"]
            mask = from_stack(stack, case.axis)
            to_label, from_label = surface_distances(mask, case.mask_kji.astype(bool), case.volume.spacing_kji)
            print(f"  after {name:25s} stray95 {np.percentile(to_label, 95):6.1f} missed95 "
                  f"{np.percentile(from_label, 95):6.1f} voxels {int(mask.sum())}", flush=True)
        return result
    return step_reported


def connected_to_fitted(step):
    def kept_connected(self, masks, *args, **kwargs):
        combined = step(self, masks, *args, **kwargs)
        fitted = masks.astype(bool)
        if os.environ.get("CONNECTED") != "slice":
            return overlapping_regions(combined.astype(bool), fitted).astype(combined.dtype)
        kept = combined.copy()
        for t in np.flatnonzero(fitted.reshape(len(fitted), -1).any(axis=1)):
            kept[t] = overlapping_regions(combined[t].astype(bool), fitted[t])
        return kept
    return kept_connected


if __name__ == "__main__":
    if os.environ.get("CONNECTED") in ("1", "slice"):
        predictor_module.SpdPredictor._learned_on_agreed_slices = connected_to_fitted(
            predictor_module.SpdPredictor._learned_on_agreed_slices)
    for step_name in STEPS:
        setattr(predictor_module, step_name, reported(step_name, getattr(predictor_module, step_name)))
    for step_name in METHOD_STEPS:
        setattr(predictor_module.SpdPredictor, step_name,
                reported(step_name.lstrip("_"), getattr(predictor_module.SpdPredictor, step_name)))
    if os.environ.get("SKIP_AGREED") == "1":
        predictor_module.SpdPredictor._learned_on_agreed_slices = lambda self, masks, *args: masks
    hd95_parts.load_named_cases = scan_prior_trials.cases_kept_as_reference
    hd95_parts.main(*sys.argv[1:])
