"""Trial, not adopted: the other limbs of random clicks' structure, each seeded at a click outside the segment and
kept where other clicks confirm it, on the development cases of docs/dev_results.sh (docs/DEFAULT_MODEL.md, "other
limbs confirmed by the clicks").

Clicked at random, a colon's other limb holds a true click on a slice in three or four (its share of the colon
there), while a tissue beside it that a stray click lands on holds other stray clicks far more rarely. After the
predictor's own steps (its cross-sections carried, SPDSegmentLib.inference.click_carrying.carry_cross_sections), every
positive click outside the segment, within the kept prompts' slices, seeds a limb: its region in a box of the fitted
half-size, carried slice by slice both ways with the carrying's checks (Dice >= 0.5 with the region before, the
seed's intensity, no larger than 1.5 times the structure's median cross-section) until it meets the segment. A limb
is kept when other clicks lie in it on at least LIMB_CLICK_SHARE of the slices it runs through and on
MIN_LIMB_CONFIRMATIONS slices or more. Chains whose regions on a slice all but match (Dice >= 0.9, same direction)
are decoded once and go on together, each still counting the clicks on its own way. Only the random clicks' route
(prompts no curve traced, some of them competing) takes it, as for the carrying of cross-sections.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/limb_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
       (the arguments of docs/hd95_parts.py, whose run lines it prints)
"""

import sys

import numpy as np
from scipy import ndimage

import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import DecodeBoxes, box_around, dice, mask_box, region_holding
from SPDSegmentLib.inference.click_carrying import (LARGEST_CARRIED_CROSS_SECTION, ClickCarrying, carried_region,
                                                    robust_intensity)
from SPDSegmentLib.inference.cpd import saliency_at
from SPDSegmentLib.inference.prompts import Prompts

import trial_hooks  # docs/, the script's own folder

LIMB_CLICK_SHARE = 0.15
MIN_LIMB_CONFIRMATIONS = 2
SAME_REGION_DICE = 0.9


def carry_limbs(masks: np.ndarray, image: np.ndarray, decode: DecodeBoxes, clicks: Prompts, half_px: float,
                lower: int, upper: int, settings: ClickCarrying) -> tuple[np.ndarray, int, list[int]]:
    """``masks`` with the other limbs of the structure that the ``clicks`` outside it confirm, also how many limbs
    were added (limbs that overlap count once) and the slices that were empty before.

    Each click outside ``masks`` (on ``lower``..``upper``) seeds a limb: its region in a box of ``half_px`` is carried
    slice by slice both ways with the checks of ``click_carrying.carry_cross_sections`` (shape, intensity, no larger
    than ``LARGEST_CARRIED_CROSS_SECTION`` times the structure's median cross-section) until it meets the structure. A
    limb is kept when other clicks lie in it on at least ``LIMB_CLICK_SHARE`` of the slices it runs through and on
    ``MIN_LIMB_CONFIRMATIONS`` slices or more: clicked at random, a colon's other limb holds a click on a slice in
    three or four (its share of the colon there), while a muscle or a vessel beside it, seeded by a stray click, holds
    other stray clicks on a slice in fifty or fewer."""
    outside = [(int(t), xy) for t, xy in zip(clicks.slice_index, clicks.xy)
               if lower <= t <= upper and not holds(masks[int(t)], xy)]
    areas = [area for t in np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
             for area in np.bincount(ndimage.label(masks[t])[0].ravel())[1:]]
    if not outside or not areas:
        return masks, 0, []
    largest_px = LARGEST_CARRIED_CROSS_SECTION * float(np.median(areas))
    decoded, _ = decode(np.array([t for t, _ in outside]), np.array([box_around(xy[None], half_px)
                                                                     for _, xy in outside]))
    chains = Chains()
    seeds = []
    for (t, xy), mask in zip(outside, decoded):
        region = region_holding(mask, xy[None])
        if region.any() and region.sum() <= largest_px and not (region & masks[t]).any():
            seeds.append(chains.seed(t, region, robust_intensity(image[t][region])))
    fronts = [(node, step) for node in dict.fromkeys(seeds) for step in (-1, 1)]
    while True:
        fronts = [(node, step) for node, step in fronts if lower <= chains.slice_of(node) + step <= upper
                  and not (masks[chains.slice_of(node) + step] & chains.region_of(node)).any()]
        if not fronts:
            break
        decoded, _ = decode(np.array([chains.slice_of(node) + step for node, step in fronts]),
                            np.array([mask_box(chains.region_of(node), settings.pad_px) for node, _ in fronts]))
        next_fronts = []
        for (node, step), mask in zip(fronts, decoded):
            t = chains.slice_of(node) + step
            reference = chains.reference_of(node)
            region = carried_region(mask, chains.region_of(node), image[t], reference, largest_px, settings)
            if region is not None:
                carried, new = chains.link(node, step, region, reference)
                if new:
                    next_fronts.append((carried, step))
        fronts = next_fronts
    grown = masks.copy()
    count, gained, added = 0, set(), np.zeros_like(masks)
    for seed in dict.fromkeys(seeds):
        limb = chains.limb(seed)
        confirmed = {t for t, xy in outside if t in limb and holds(limb[t], xy)}
        if len(confirmed) - 1 < max(MIN_LIMB_CONFIRMATIONS, LIMB_CLICK_SHARE * len(limb)):
            continue
        # clicks on one limb each seed it: a limb that overlaps one added before is the same limb
        count += not any((added[t] & region).any() for t, region in limb.items())
        for t, region in limb.items():
            if not grown[t].any():
                gained.add(t)
            grown[t] |= region
            added[t] |= region
    return grown, count, sorted(gained)


class Chains:
    """The regions :func:`carry_limbs` carries, as nodes linked slice to slice. Clicks on one limb each seed a chain
    along it; where a chain's region on a slice is all but the region another chain carried there in the same
    direction (Dice at least ``SAME_REGION_DICE``), it goes on as that chain does, so the limb is decoded once, while
    each seed's chain still counts only the clicks on its own way."""

    def __init__(self):
        self._nodes: list[tuple[int, np.ndarray, tuple[float, float]]] = []
        self._next: dict[tuple[int, int], int] = {}
        self._by_slice: dict[tuple[int, int], list[int]] = {}  # (slice, step; 0 for seeds) -> its nodes

    def seed(self, t: int, region: np.ndarray, reference: tuple[float, float]) -> int:
        """The node of a click's ``region`` on slice ``t``: a new one, or another click's there if they match."""
        return self._placed(t, 0, region, reference)[0]

    def link(self, node: int, step: int, region: np.ndarray, reference: tuple[float, float]) -> tuple[int, bool]:
        """Link ``node`` to the ``region`` carried from it by ``step``; also whether that region's node is new (a
        front to carry on) rather than one another chain carried there."""
        carried, new = self._placed(self.slice_of(node) + step, step, region, reference)
        self._next[node, step] = carried
        return carried, new

    def _placed(self, t: int, step: int, region: np.ndarray, reference: tuple[float, float]) -> tuple[int, bool]:
        same = self._same(t, step, region)
        if same is not None:
            return same, False
        self._nodes.append((t, region, reference))
        self._by_slice.setdefault((t, step), []).append(len(self._nodes) - 1)
        return len(self._nodes) - 1, True

    def _same(self, t: int, step: int, region: np.ndarray) -> int | None:
        for other in self._by_slice.get((t, step), []):
            if dice(self._nodes[other][1], region) >= SAME_REGION_DICE:
                return other
        return None

    def slice_of(self, node: int) -> int:
        return self._nodes[node][0]

    def region_of(self, node: int) -> np.ndarray:
        return self._nodes[node][1]

    def reference_of(self, node: int) -> tuple[float, float]:
        return self._nodes[node][2]

    def limb(self, seed: int) -> dict[int, np.ndarray]:
        """The seed's chain both ways, as slice -> region."""
        limb = {self.slice_of(seed): self.region_of(seed)}
        for step in (-1, 1):
            node = seed
            while (node, step) in self._next:
                node = self._next[node, step]
                limb[self.slice_of(node)] = self.region_of(node)
        return limb


def holds(mask: np.ndarray, xy: np.ndarray) -> bool:
    """Whether the pixel at ``xy`` (x, y) lies in ``mask``."""
    return bool(saliency_at(mask, np.asarray(xy)[None])[0])


original_carried_cross_sections = predictor_module.SpdPredictor._carried_cross_sections


def carried_then_limbs(self, masks, filled, consensus, choice, progress, cancel):
    masks, filled, choice = original_carried_cross_sections(self, masks, filled, consensus, choice, progress, cancel)
    kept = consensus.prompts.select(consensus.prompts.positive).slices
    prompts = self.trial_prompts
    decode = self._base_decoder_boxes(consensus.prompts, progress, cancel)
    masks, count, gained = carry_limbs(masks, self._stack, decode, prompts.select(prompts.positive),
                                       trial_hooks.fitted_half_mm["mm"] / min(self._frame.spacing_xy), int(kept.min()),
                                       int(kept.max()), self.click_carrying)
    print(f"  limbs added: {count}", flush=True)
    return masks, sorted(set(filled) | set(gained)), choice


if __name__ == "__main__":
    trial_hooks.install()
    predictor_module.SpdPredictor._carried_cross_sections = carried_then_limbs
    import hd95_parts

    hd95_parts.main(*sys.argv[1:])
