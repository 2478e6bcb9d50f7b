"""Trial: clicks kept where the clicks of nearby slices fall in the same closed cross-section more often than chance
(docs/DEFAULT_MODEL.md, "clicks vouched for by their own cross-sections": every click's closed region vouching for
the clicks inside it kept the stray clicks of organs, muscle and fat as well as a limb's).

Where every positive prompt is a click, each click's cross-section is decoded as in docs/region_continuity_trials.py
(the region holding it in the smallest box of LADDER mm half-size whose region stays off the box's border). For a
click with a region R on slice t, a prompted slice j within WINDOW slices of t matches where one of its clicks has a
region whose IoU with R is at least IOU: the same cross-section, wherever in it the click fell (with MATCH=inside,
only a click that itself lies in R, so the chance estimate below bounds the matches). By chance alone slice j holds a
click in R with probability p_j = 1 - exp(-lambda_j |R|), lambda_j its clicks per pixel of tissue (normalised
intensity above 0.05); with MATCH=union a match counts wherever the click fell, as with any, and |R| in p_j becomes
the area of R joined with slice j's matching regions, where a click would have matched; so an organ or a muscle that
stray clicks hit often is expected to match often; a limb the true clicks keep landing on matches more often than
that. The click is kept where at least 2 slices match and P(X >= matches) < ALPHA, X Poisson with mean sum p_j: its
region is set to closeness 1 in the first continuity check, beside the shipped one (with MARK=click only the click's
own pixel and its 8 neighbours). With STAGE=after the first check is left as shipped, so it still decides whether the
nearest slices find a structure, and the marks go into the map the route ends with (the wider check's, or the first
check's with the other cross-sections'), whose prompts are then distilled again. With STAGE=add the route runs as
shipped and each kept click's region that the segment does not touch is added to it at the end, so the kept clicks
change neither the checks nor the fitted box size; STAGE=carry adds them also before the random clicks' route carries
its cross-sections to neighbouring slices, so they are carried with the rest. With EXCLUSIVE=1 a kept click's
region is added only where at least 2 of the slices that matched it are slices none of whose clicks the segment (the
masks it is added to) holds: the scan prior's rule (SPDSegmentLib.inference.scan_prior), since a slice whose true
click the segment holds says nothing for another region on it.

Usage: [LADDER="10 20 40 60" WINDOW=3 IOU=0.3 ALPHA=0.01 MARK=region|click
       STAGE=first|after|add|carry MATCH=any|inside|union EXCLUSIVE=0|1] [PROTOCOLS=noise] PYTHONPATH=SPDSegment:docs
       .venv/bin/python docs/region_density_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
"""

import os
import sys
from dataclasses import replace

import numpy as np
from scipy import stats

from SPDSegmentLib.inference import continuity_prior, predictor as predictor_module
from SPDSegmentLib.inference.cpd import saliency_at
from SPDSegmentLib.inference.metrics import compute_iou
from SPDSegmentLib.inference.slices import from_stack, to_stack

import hd95_parts  # docs/, the script's own folder
from region_continuity_trials import click_regions

WINDOW = int(os.environ.get("WINDOW", "3"))
IOU = float(os.environ.get("IOU", "0.3"))
ALPHA = float(os.environ.get("ALPHA", "0.01"))
MARK = os.environ.get("MARK", "region")
STAGE = os.environ.get("STAGE", "first")
MATCH = os.environ.get("MATCH", "any")
EXCLUSIVE = int(os.environ.get("EXCLUSIVE", "0"))
TISSUE = 0.05
predict_as_shipped = predictor_module.SpdPredictor.predict
continuity_as_shipped = continuity_prior.continuity_saliency
vouched: dict[int, list[tuple[np.ndarray, list[int]]]] = {}  # per slice, each kept mark and the slices that matched it
clicks_on: dict[int, np.ndarray] = {}  # the positive clicks' (x, y) per slice


def density_kept(positive, regions, stack) -> tuple[list[int], list[list[int]]]:
    """Indices of the clicks whose cross-section the nearby slices' clicks match more often than chance, and per kept
    click the slices that matched it."""
    tissue = {int(t): max(int((stack[t] > TISSUE).sum()), 1) for t in positive.slices}
    by_slice = {int(t): np.flatnonzero(positive.slice_index == t) for t in positive.slices}
    kept, matching = [], []
    for i, region in enumerate(regions):
        if region is None:
            continue
        t = int(positive.slice_index[i])
        area = int(region.sum())
        expected, matched_on = 0.0, []
        for j in range(t - WINDOW, t + WINDOW + 1):
            if j == t or j not in by_slice:
                continue
            matched = [k for k in by_slice[j] if regions[k] is not None and compute_iou(region, regions[k]) >= IOU
                       and (MATCH != "inside" or saliency_at(region, positive.xy[k])[0])]
            catchment = area if MATCH != "union" else int(
                np.logical_or.reduce([region] + [regions[k] for k in matched]).sum())
            expected += 1.0 - np.exp(-len(by_slice[j]) / tissue[j] * catchment)
            matched_on += [j] if matched else []
        if len(matched_on) >= 2 and stats.poisson.sf(len(matched_on) - 1, expected) < ALPHA:
            kept.append(i)
            matching.append(matched_on)
    return kept, matching


def around_click(shape, xy) -> np.ndarray:
    marked = np.zeros(shape, bool)
    x, y = np.rint(xy).astype(int)
    marked[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2] = True
    return marked


def continuity_saliency(prompts, stack_shape, spacing_xy, *args, **kwargs):
    """The predictor's first continuity check as shipped, with the density-kept clicks' marks at closeness 1."""
    saliency = continuity_as_shipped(prompts, stack_shape, spacing_xy, *args, **kwargs)
    return marked(saliency) if kwargs.get("window", 1) == 1 else saliency  # the wider check passes its window


def marked(saliency):
    """A copy of ``saliency`` with the density-kept clicks' marks at closeness 1."""
    saliency = saliency.copy()
    for t, masks in vouched.items():
        for region, _ in masks:
            saliency[t][region] = 1.0
    return saliency


def marked_after(step):
    def step_then_marked(self, prompts, *args):
        saliency, consensus, choice = step(self, prompts, *args)
        if consensus is None or not vouched:
            return saliency, consensus, choice
        saliency = marked(saliency)
        return saliency, predictor_module.distil_prompts(prompts, saliency, args[-2]), choice
    return step_then_marked


def predict_with_density(self, prompts, options=None, progress=None, cancel=None):
    vouched.clear()
    positive = prompts.select(prompts.positive)
    if (options or self.options).prior != "raw" and len(positive) and (positive.curve < 0).all():
        regions = click_regions(self, prompts, positive)
        kept, matching = density_kept(positive, regions, self._stack)
        for i, matched_on in zip(kept, matching):
            vouched.setdefault(int(positive.slice_index[i]), []).append(
                (regions[i] if MARK == "region" else around_click(regions[i].shape, positive.xy[i]), matched_on))
        clicks_on.update({int(t): positive.xy[positive.slice_index == t] for t in positive.slices})
        print(f"{sum(r is not None for r in regions)} of {len(positive)} clicks hold a closed cross-section, "
              f"{len(kept)} kept by their density", flush=True)
    try:
        prediction = predict_as_shipped(self, prompts, options, progress, cancel)
        return prediction if STAGE not in ("add", "carry") else with_regions_added(prediction, self.axis)
    finally:
        vouched.clear()
        clicks_on.clear()


def missed_slices(masks) -> set[int]:
    """The clicked slices none of whose clicks ``masks`` hold."""
    return {j for j, xy in clicks_on.items() if not saliency_at(masks[j], xy).any()}


def regions_added(masks):
    """``masks`` with the cross-section of each density-kept click they do not touch added (with EXCLUSIVE=1 only
    where at least 2 of the slices that matched it are slices whose clicks ``masks`` hold none of)."""
    added, missed = masks.copy(), missed_slices(masks) if EXCLUSIVE else set()
    for t, marks in vouched.items():
        for region, matched_on in marks:
            if not (masks[t] & region).any() and (not EXCLUSIVE or len(missed.intersection(matched_on)) >= 2):
                added[t] |= region
    print(f"{int(added.sum() - masks.sum())} voxels added by the density-kept clicks", flush=True)
    return added


def with_regions_added(prediction, axis):
    """``prediction`` with the cross-section of each density-kept click it does not hold added to its mask."""
    added = regions_added(to_stack(prediction.mask_kji, axis).astype(bool))
    return replace(prediction, mask_kji=np.ascontiguousarray(from_stack(added.astype(np.uint8), axis)),
                   slices=np.flatnonzero(added.reshape(len(added), -1).any(axis=1)))


def added_then_carried(carry):
    def carried_with_regions(self, masks, *args):
        return carry(self, regions_added(masks), *args)
    return carried_with_regions


if __name__ == "__main__":
    if STAGE == "first":
        predictor_module.continuity_saliency = continuity_saliency  # the predictor's checks, not the module's own
    elif STAGE == "after":
        for name in ("_wider_continuity", "_other_cross_sections"):
            setattr(predictor_module.SpdPredictor, name, marked_after(getattr(predictor_module.SpdPredictor, name)))
    elif STAGE == "carry":
        predictor_module.SpdPredictor._carried_cross_sections = added_then_carried(
            predictor_module.SpdPredictor._carried_cross_sections)
    predictor_module.SpdPredictor.predict = predict_with_density
    hd95_parts.main(*sys.argv[1:])
