"""Trial: the tuned decoder's outline drawn from the fitted structure's own boxes.

As shipped (:meth:`SPDSegmentLib.inference.predictor.SpdPredictor._tuned_outline`), the adapter's tuned decoder
decodes the kept prompts with the boxes the continuity map gives them (the region of the map over tau holding the
prompts: a blob about 24 mm wide around the prompts of the neighbouring slices), and draws each slice's outline
within the fitted structure where over 60 % of its mask lies inside it. Here the tuned decoder is given, on every
segmented slice, the box of the fitted mask itself (grown by ``fitting.pad_px``), so it outlines what the fitted
boxes found rather than a blob sized by the prior's radius; the same 60 % rule decides whether it draws.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/outline_box_trials.py docs/hd95_parts.py CASES.json default auto \
    CASE ...
"""

from SPDSegmentLib.inference import predictor as predictor_module

from predictor_trials import outline_from_fitted_boxes, run_given_script


def tuned_outline(self, masks, prompts, checked, cpd, options, progress, cancel):
    return outline_from_fitted_boxes(self, masks, prompts, progress, cancel)


predictor_module.SpdPredictor._tuned_outline = tuned_outline
run_given_script()
