"""Trial, adopted on 2026-12-05 with these settings' defaults (SPDSegmentLib.inference.scan_prior): a prior fitted to
the scan in hand, on the development cases of docs/dev_results.sh (docs/DEFAULT_MODEL.md, "a prior fitted to the scan
in hand").

The shipped saliency head was trained on generated volumes and the development CT's bowel; on a structure it never
saw it cannot tell a true click from a stray one. The segment itself can: after the random clicks' route (its
cross-sections carried, SPDSegmentLib.inference.click_carrying.carry_cross_sections), a linear probe (logistic
regression on the encoder's embedding cells, classes weighted equally, STEPS full-batch Adam steps) is fitted to the
segment as a pseudo-label on the slices encoded so far. Every positive click outside the segment, on the kept
prompts' slices (RANGE=kept; RANGE=clicked: on all the clicks' slices), that the probe scores >= THETA seeds a
region (a box of the fitted half-size) if the region's mean score is >= THETA, it does not touch the segment and is
no larger than CAP times the segment's median cross-section. The seeds alone are carried slice by slice
(carry_cross_sections) within the same slices; a carried limb joins the segment when clicks lie
in it on CONFIRM slices or more, counting, with EXCLUSIVE=1, only the slices where the segment holds no click (the
click of that slice went to the limb rather than to the segment: a twin organ beside the target, the other kidney,
holds stray clicks on slices whose true click the segment holds).

The engine's own step is turned off here (docs/trial_hooks.py) and the trial runs the engine's function
(SPDSegmentLib.inference.scan_prior.limbs_the_clicks_point_at) in its place, with these settings as its rules and
over RANGE, and prints what it reports; with the settings' defaults it does what the engine does.

Usage: [THETA=0.5 CONFIRM=2 EXCLUSIVE=1 CAP=3 STEPS=200 RANGE=kept] [PROTOCOLS=noise] PYTHONPATH=SPDSegment
       .venv/bin/python docs/scan_prior_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
       (the arguments of docs/hd95_parts.py, whose run lines it prints, each after lines giving the slices of the
       kept prompts and of the clicks, why the regions of clicks outside the segment were refused as seeds, each
       carried limb (voxels, slices spanned, slices whose clicks confirm it, the share of it inside the label; *
       marks those joined), and how many clicks outside the segment the probe scored >= THETA, how many seeded a
       region and how many limbs were kept)
       PYTHONPATH=SPDSegment .venv/bin/python docs/scan_prior_trials.py spdsegment evaluate ... (the command line
       with the trial in it)
"""

import os
import sys

import numpy as np
from scipy import ndimage

import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.scan_prior import (LARGEST_LIMB_SEED, LIMB_CONFIRMATIONS, PROBE_SCORE, PROBE_STEPS,
                                                LimbRules, limbs_the_clicks_point_at)
from SPDSegmentLib.inference.slices import to_stack
from SPDSegmentLib.training.dataset import load_named_cases

import trial_hooks  # docs/, the script's own folder

RULES = LimbRules(probe_score=float(os.environ.get("THETA", PROBE_SCORE)),
                  largest_seed=float(os.environ.get("CAP", LARGEST_LIMB_SEED)),
                  confirmations=int(os.environ.get("CONFIRM", LIMB_CONFIRMATIONS)),
                  exclusive=os.environ.get("EXCLUSIVE", "1") == "1")
STEPS = int(os.environ.get("STEPS", PROBE_STEPS))
RANGE = os.environ.get("RANGE", "kept")
reference: dict = {}  # the case in hand ("case") and its label as a slice stack ("stack")

original_carried = predictor_module.SpdPredictor._carried_cross_sections


def carried_then_scan_prior(self, masks, filled, consensus, choice, progress, cancel):
    masks, filled, choice = original_carried(self, masks, filled, consensus, choice, progress, cancel)
    if not masks.any():
        return masks, filled, choice
    scores = self._scan_probe_scores(masks, STEPS)
    kept = consensus.prompts.select(consensus.prompts.positive).slices
    lower, upper = int(kept.min()), int(kept.max())
    clicks = self.trial_prompts.select(self.trial_prompts.positive)
    print(f"  kept prompts' slices {lower}-{upper}, clicks' slices {clicks.slice_index.min()}-"
          f"{clicks.slice_index.max()}", flush=True)
    if RANGE == "clicked":
        lower, upper = int(clicks.slice_index.min()), int(clicks.slice_index.max())
    half_px = trial_hooks.fitted_half_mm["mm"] / min(self._frame.spacing_xy)
    found = limbs_the_clicks_point_at(masks, scores, self._stack,
                                      self._base_decoder_boxes(consensus.prompts, progress, cancel), clicks, half_px,
                                      lower, upper, self.click_carrying, RULES)
    print_found(found, scores, RULES.probe_score)
    return found.masks, sorted(set(filled) | set(found.gained)), choice


def print_found(found, scores: np.ndarray, probe_score: float) -> None:
    """Print why the clicks' regions were refused as seeds, every carried limb (with its share in the label of the case
    being run) and the counts of :class:`ScanLimbs` ``found``."""
    if found.refused:
        print("  regions refused as seeds: " + ", ".join(f"{why} {count}" for why, count in found.refused.items()),
              flush=True)
    if found.limbs is not None:
        truth = reference.get("stack")
        limbs = []
        for label, box in enumerate(ndimage.find_objects(found.limbs), 1):
            if box is None:
                continue
            limb = found.limbs == label
            share = "-" if truth is None else f"{(truth & limb).sum() / limb.sum():.2f}"
            limbs.append(f"{'*' if label in found.joined_labels else ''}{int(limb.sum())}/{box[0].stop - box[0].start}/"
                         f"{len(found.confirming.get(label, ()))}/{share}/{scores[limb].mean():.2f}")
        print("  carried limbs (voxels, slices spanned, slices confirming, share in the label, mean score; * joined): "
              + ", ".join(limbs), flush=True)
    seeded = found.scored - sum(found.refused.values())
    print(f"  scan prior: {found.scored} clicks outside scored >= {probe_score}, {seeded} seeds, {found.joined} limbs kept",
          flush=True)


def cases_kept_as_reference(*args, **kwargs):
    """docs/hd95_parts.py's cases, each one (and its label as a slice stack) kept while its runs go on."""
    for case in load_named_cases(*args, **kwargs):
        reference.update(case=case, stack=to_stack(case.mask_kji.astype(bool), case.axis))
        yield case


def patch() -> None:
    """Put the trial into SPDSegmentLib's predictor (for docs/hd95_parts.py or the spdsegment command line)."""
    trial_hooks.install()
    predictor_module.SpdPredictor._carried_cross_sections = carried_then_scan_prior


if __name__ == "__main__":
    patch()
    if sys.argv[1:2] == ["spdsegment"]:
        from SPDSegmentLib.cli import main

        sys.argv = sys.argv[1:]
        sys.exit(main())
    import hd95_parts

    hd95_parts.load_named_cases = cases_kept_as_reference
    hd95_parts.main(*sys.argv[1:])
