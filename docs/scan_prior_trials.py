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
in it on CONFIRM slices or more (and on at least SHARE of the slices it spans), counting, with EXCLUSIVE=1, only the
slices where the segment holds no click (the click of that slice went to the limb rather than to the segment: a
twin organ beside the target, the other kidney, holds stray clicks on slices whose true click the segment holds).

The engine's own step is turned off here (docs/trial_hooks.py) and the trial's variant takes its place; with the
settings' defaults it prints what the engine does.

Usage: [THETA=0.5 CONFIRM=2 SHARE=0 EXCLUSIVE=1 CAP=3 STEPS=200 RANGE=kept] [PROTOCOLS=noise] PYTHONPATH=SPDSegment
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
from SPDSegmentLib.inference.box_fitting import box_around, region_holding
from SPDSegmentLib.inference.click_carrying import carry_cross_sections
from SPDSegmentLib.inference.cpd import nearest_pixels
from SPDSegmentLib.inference.slices import to_stack
from SPDSegmentLib.training.dataset import load_named_cases

import trial_hooks  # docs/, the script's own folder

THETA = float(os.environ.get("THETA", "0.5"))
CAP = float(os.environ.get("CAP", "3"))
CONFIRM = int(os.environ.get("CONFIRM", "2"))
SHARE = float(os.environ.get("SHARE", "0"))
EXCLUSIVE = os.environ.get("EXCLUSIVE", "1") == "1"
STEPS = int(os.environ.get("STEPS", "200"))
RANGE = os.environ.get("RANGE", "kept")
reference: dict[str, np.ndarray] = {}

original_carried = predictor_module.SpdPredictor._carried_cross_sections


def scan_probe(self, masks: np.ndarray) -> np.ndarray:
    """(S, H, W) scores of the engine's probe fitted to ``masks``, with STEPS steps."""
    return self._scan_probe_scores(masks, STEPS)


def carried_then_scan_prior(self, masks, filled, consensus, choice, progress, cancel):
    masks, filled, choice = original_carried(self, masks, filled, consensus, choice, progress, cancel)
    if not masks.any():
        return masks, filled, choice
    scores = scan_probe(self, masks)
    kept = consensus.prompts.select(consensus.prompts.positive).slices
    lower, upper = int(kept.min()), int(kept.max())
    clicks = self.trial_prompts.select(self.trial_prompts.positive)
    print(f"  kept prompts' slices {lower}-{upper}, clicks' slices {clicks.slice_index.min()}-"
          f"{clicks.slice_index.max()}", flush=True)
    if RANGE == "clicked":
        lower, upper = int(clicks.slice_index.min()), int(clicks.slice_index.max())
    columns, rows = nearest_pixels(clicks.xy, *masks.shape[1:])
    at = [(int(t), xy, (int(y), int(x))) for t, xy, x, y in zip(clicks.slice_index, clicks.xy, columns, rows)]
    outside = [(t, xy) for t, xy, (y, x) in at if lower <= t <= upper and not masks[t, y, x]
               and scores[t, y, x] >= THETA]
    areas = [area for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
             for area in np.bincount(ndimage.label(masks[t])[0].ravel())[1:]]
    largest = CAP * float(np.median(areas))
    decode = self._base_decoder_boxes(consensus.prompts, progress, cancel)
    seeds = np.zeros_like(masks)
    seeded = 0
    if outside:
        half_px = trial_hooks.fitted_half_mm["mm"] / min(self._frame.spacing_xy)
        decoded, _ = decode(np.array([t for t, _ in outside]),
                            np.array([box_around(xy[None], half_px) for _, xy in outside]))
        refused = {"empty": 0, "larger than the cap": 0, "touching the segment": 0, "scored low": 0}
        for (t, xy), mask in zip(outside, decoded):
            region = region_holding(mask, xy[None])
            if not region.any():
                refused["empty"] += 1
            elif region.sum() > largest:
                refused["larger than the cap"] += 1
            elif (region & (masks[t] | seeds[t])).any():
                refused["touching the segment"] += 1
            elif scores[t][region].mean() < THETA:
                refused["scored low"] += 1
            else:
                seeds[t] |= region
                seeded += 1
        print("  regions refused as seeds: " + ", ".join(f"{why} {count}" for why, count in refused.items()),
              flush=True)
    kept_limbs = 0
    grown = masks
    if seeded:
        carried, _, _ = carry_cross_sections(seeds, self._stack, decode, lower, upper, self.click_carrying)
        limbs, _ = ndimage.label(carried & ~masks, structure=np.ones((3, 3, 3), bool))
        held = {t for t, _, (y, x) in at if masks[t, y, x]}
        clicked: dict[int, set[int]] = {}
        for t, _, (y, x) in at:
            if limbs[t, y, x] and not (EXCLUSIVE and t in held):
                clicked.setdefault(int(limbs[t, y, x]), set()).add(t)
        spans = {label: box[0].stop - box[0].start for label, box in enumerate(ndimage.find_objects(limbs), 1) if box}
        keep = [label for label, on in clicked.items() if len(on) >= max(CONFIRM, SHARE * spans[label])]
        kept_limbs = len(keep)
        truth = reference.get("stack")
        print("  carried limbs (voxels, slices spanned, slices confirming, share in the label, mean score; * joined): " + ", ".join(
            f"{'*' if label in keep else ''}{int((limbs == label).sum())}/{spans[label]}/"
            f"{len(clicked.get(label, ()))}/"
            + ("-" if truth is None else f"{(truth & (limbs == label)).sum() / (limbs == label).sum():.2f}")
            + f"/{scores[limbs == label].mean():.2f}"
            for label in spans), flush=True)
        added = np.isin(limbs, keep)
        was_empty = ~masks.reshape(len(masks), -1).any(axis=1)
        gained = set(np.flatnonzero(added.reshape(len(added), -1).any(axis=1) & was_empty).tolist())
        grown = masks | added
        filled = sorted(set(filled) | gained)
    print(f"  scan prior: {len(outside)} clicks outside scored >= {THETA}, {seeded} seeds, {kept_limbs} limbs kept",
          flush=True)
    return grown, filled, choice


def cases_kept_as_reference(*args, **kwargs):
    """docs/hd95_parts.py's cases, each one's label kept (as a slice stack) while its runs go on."""
    for case in load_named_cases(*args, **kwargs):
        reference["stack"] = to_stack(case.mask_kji.astype(bool), case.axis)
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
