"""Trial: the tuned decoder's outline cuts only the regions it draws on.

As shipped (:func:`SPDSegmentLib.inference.predictor.outline_within`), where the tuned decoder's mask shares
anything with a slice's fitted mask, that slice keeps only what both hold: a region of the segment the tuned decoder
never drew (a cross-section carried from the slice before, a limb the scan's prior joined, another limb the kept
prompts reach) is dropped with the rest. Here (MODE=region) each connected region of a slice's fitted mask is cut to
what the tuned decoder holds of it, and a region it shares nothing with stays whole; MODE=off draws no outline.

Usage: [MODE=region|off] PYTHONPATH=SPDSegment .venv/bin/python docs/outline_region_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
"""

import os

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference import predictor as predictor_module

from predictor_trials import run_given_script

MODE = os.environ.get("MODE", "region")
outline_as_shipped = predictor_module.outline_within


def outline_region_by_region(masks, tuned):
    outlined, inside, cover = outline_as_shipped(masks, tuned)
    if outlined is None or MODE == "off":
        return None, inside, cover
    outlined = masks.copy()
    for t in np.flatnonzero((tuned & masks).reshape(len(masks), -1).any(axis=1)):
        regions, count = ndimage.label(masks[t])
        for region in range(1, count + 1):
            held = regions == region
            if (held & tuned[t]).any():
                outlined[t][held] = tuned[t][held]
    return outlined, inside, cover


predictor_module.outline_within = outline_region_by_region
run_given_script()
