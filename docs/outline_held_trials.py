"""Trial: the tuned decoder's outline drawn from the prompts the fitted structure holds.

As shipped (:meth:`SPDSegmentLib.inference.predictor.SpdPredictor._tuned_outline`), the adapter's tuned decoder
decodes every prompt the continuity prior keeps, also those of a region the 3D check then dropped (a curve's
stretch on a neighbouring loop). Here it is given only the positive prompts the fitted structure reaches (within
``PROMPT_REACH_PX`` of its mask on their slice, ``cpd.within_reach``: the test of the audit's ``left-out``) and every
negative prompt; the same 60 % rule decides whether it draws.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/outline_held_trials.py docs/hd95_parts.py CASES.json default auto \
    CASE ...
       PYTHONPATH=SPDSegment .venv/bin/python docs/outline_held_trials.py -m SPDSegmentLib.tools.demo --out DIR
"""

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.cpd import within_reach

from predictor_trials import run_given_script

outline_as_shipped = predictor_module.SpdPredictor._tuned_outline


def tuned_outline(self, masks, prompts, checked, cpd, options, progress, cancel):
    held = ~prompts.positive | within_reach(masks, prompts.slice_index, prompts.xy, predictor_module.PROMPT_REACH_PX)
    return outline_as_shipped(self, masks, prompts.select(held), checked, cpd, options, progress, cancel)


predictor_module.SpdPredictor._tuned_outline = tuned_outline
run_given_script()
