"""Trials of the continuity route's cross-sections carried, one by one, to the neighbouring slices they are missing
from, on the development cases of docs/dev_results.sh (docs/DEFAULT_MODEL.md, "the structure's cross-sections
carried to the slices they miss"). The predictor adopted the form LARGEST=1.5 below, for random clicks only
(SPDSegmentLib.inference.click_carrying.carry_cross_sections); this script runs the variants on every route.

Clicked at random, a structure with several cross-sections on a slice (a colon's limbs) keeps few of its clicks: the
check against the neighbouring slices rejects those that hop between limbs, so a limb is segmented on a few slices of
the many it runs through. Here every connected region of every segmented slice of the fitted structure is carried to
the next slice (the region's box, grown by 2 px, decoded there; the regions overlapping it kept) while the slice's
mask holds nothing that overlaps it, each carried region matches the one before (Dice >= 0.5) and the carried tissue's
median intensity stays within 3 robust standard deviations of the region it started from: the checks of
SPDSegmentLib.inference.click_carrying.carry_through_slices, region by region, between the first and last slices
of the kept prompts. The carrying runs on every route that fits boxes, traced curves included.

CONFIRM (environment variable) keeps a carried region only as far as the last one that holds a positive prompt the
user gave (kept or rejected), a carrying that meets none in 7 slices stopping: ``none`` (default: no such check),
``inside`` (the prompt's pixel lies in the carried region) or a distance in mm (a prompt within it of the region).

LARGEST (environment variable, default inf: no such check; without CONFIRM only) stops a carrying where the carried
region is larger than that many times the median area of the structure's cross-sections (its connected regions,
slice by slice, before the carrying): a stray region carried along a larger tissue grows, slice by slice, within the
shape check.

Usage: PYTHONPATH=SPDSegment [CONFIRM=none|inside|MM] [LARGEST=F] .venv/bin/python docs/cross_section_carry_trials.py
       CASES.json [MODEL] [PRIOR] [CASE ...]   (the arguments of docs/hd95_parts.py, whose run lines it prints)
"""

import os
import sys

import numpy as np
from scipy import ndimage

import SPDSegmentLib.inference.click_carrying as click_carrying
import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import mask_box
from SPDSegmentLib.inference.click_carrying import ClickCarrying, carried_region, robust_intensity

import trial_hooks  # docs/, the script's own folder

REACH = 7  # the fitted boxes' gap_slices + 1


def confirm_px(setting: str, spacing_mm: float) -> float | None:
    """None (no check), 0 (inside) or the distance in pixels a prompt may lie from a carried region."""
    if setting == "none":
        return None
    return 0.0 if setting == "inside" else float(setting) / spacing_mm


def carry_confirmed(masks, image, decode, prompts, lower, upper, confirm, settings=ClickCarrying()):
    """``masks`` with every cross-section carried as ``click_carrying.carry_cross_sections`` carries it (no size
    cap), each carrying kept only as far as its last region within ``confirm`` pixels of a positive prompt and stopped
    ``REACH`` slices past it; also how many regions were kept."""
    held = np.zeros(masks.shape, bool)
    positive = prompts.select(prompts.positive)
    xy = np.rint(positive.xy).astype(int)
    held[positive.slice_index, np.clip(xy[:, 1], 0, masks.shape[1] - 1), np.clip(xy[:, 0], 0, masks.shape[2] - 1)] = 1
    if confirm:
        held = np.stack([ndimage.distance_transform_edt(~h) <= confirm if h.any() else h for h in held])
    carried = masks.copy()
    chains, fronts = [], []  # a chain: the regions carried from one cross-section in one direction
    for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1)):
        regions, count = ndimage.label(masks[t])
        for label in range(1, count + 1):
            region = regions == label
            for step in (-1, 1):
                chains.append([(int(t), region, True)])
                fronts.append((int(t) + step, region, step, robust_intensity(image[t][region]), len(chains) - 1))
    while True:
        fronts = [(t, source, *rest) for t, source, *rest in fronts if lower <= t <= upper
                  and not (carried[t] & source).any()
                  and abs(t - next(s for s, _, h in reversed(chains[rest[-1]]) if h)) <= REACH]
        if not fronts:
            break
        decoded, _ = decode(np.array([f[0] for f in fronts]),
                            np.array([mask_box(f[1], settings.pad_px) for f in fronts]))
        next_fronts = []
        for (t, source, step, reference, chain), mask in zip(fronts, decoded):
            region = carried_region(mask, source, image[t], reference, np.inf, settings)
            if region is None or (carried[t] & source).any():
                continue
            carried[t] |= region
            chains[chain].append((t, region, bool((region & held[t]).any())))
            next_fronts.append((t + step, region, step, reference, chain))
        fronts = next_fronts
    kept, count = masks.copy(), 0
    for chain in chains:
        last = max(i for i, (_, _, holds) in enumerate(chain) if holds)
        for t, region, _ in chain[1:last + 1]:
            kept[t] |= region
            count += 1
    return kept, count


original_fitted_boxes = predictor_module.SpdPredictor._fitted_boxes


def fitted_then_carried(self, consensus, progress, cancel, *args, **kwargs):
    fitted = original_fitted_boxes(self, consensus, progress, cancel, *args, **kwargs)
    kept = consensus.prompts.select(consensus.prompts.positive).slices
    confirm = confirm_px(os.environ.get("CONFIRM", "none"), min(self._frame.spacing_xy))
    decode = self._base_decoder_boxes(consensus.prompts, progress, cancel)
    if confirm is None:
        click_carrying.LARGEST_CARRIED_CROSS_SECTION = float(os.environ.get("LARGEST", "inf"))
        masks, count, _ = click_carrying.carry_cross_sections(fitted.masks, self._stack, decode, int(kept.min()),
                                                              int(kept.max()), self.click_carrying)
    else:
        masks, count = carry_confirmed(fitted.masks, self._stack, decode, self.trial_prompts, int(kept.min()),
                                       int(kept.max()), confirm)
    print(f"    carried {count} regions", flush=True)
    return fitted._replace(masks=masks)


def without_the_predictors_own_carrying(self, masks, filled, consensus, choice, *args, **kwargs):
    return masks, filled, choice


if __name__ == "__main__":
    trial_hooks.install()
    predictor_module.SpdPredictor._fitted_boxes = fitted_then_carried
    # the predictor now carries random clicks' cross-sections itself (LARGEST=1.5); the trials replace that step
    predictor_module.SpdPredictor._carried_cross_sections = without_the_predictors_own_carrying
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import hd95_parts

    hd95_parts.main(*sys.argv[1:])
