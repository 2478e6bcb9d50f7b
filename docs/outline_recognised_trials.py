"""Trial: the tuned decoder's outline from the fitted structure's own boxes, only where the learned prior recognises
the target on this scan.

Two trials before this one, each not adopted (docs/DEFAULT_MODEL.md): the outline from the fitted masks' own boxes
(``docs/outline_box_trials.py``) lifted ``make demo``'s sample but cut every CT vessel inside its wall; the outline
gated on the learned prior's agreement (``docs/outline_agreement_trials.py``) showed that the prior accepts no
prompt on those vessels (agreement 0.0). Here the outline is drawn from the fitted boxes where the learned prior
accepted more than ``AGREE`` of the prompts the continuity prior keeps, and as shipped (from the continuity map's
boxes, the same 60 % gate) elsewhere. Each run's agreement and which outline it drew are printed before its line.

Usage: AGREE=0 PYTHONPATH=SPDSegment .venv/bin/python docs/outline_recognised_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
"""

import os

from SPDSegmentLib.inference import predictor as predictor_module

from predictor_trials import outline_from_fitted_boxes, recorded_prior_choice, run_given_script

AGREE = float(os.environ.get("AGREE", "0"))
outline_as_shipped = predictor_module.SpdPredictor._tuned_outline
current = recorded_prior_choice()


def tuned_outline(self, masks, prompts, checked, cpd, options, progress, cancel):
    agreement = current["choice"].agreement
    recognised = agreement is not None and agreement > AGREE
    if recognised:
        outlined, inside, cover = outline_from_fitted_boxes(self, masks, prompts, progress, cancel)
    else:
        outlined, inside, cover = outline_as_shipped(self, masks, prompts, checked, cpd, options, progress, cancel)
    print(f"   agreement {agreement if agreement is None else round(agreement, 3)}: outline from "
          f"{'the fitted boxes' if recognised else 'the continuity map (shipped)'}, inside {inside:.2f}, "
          f"{'drawn' if outlined is not None else 'not drawn'}", flush=True)
    return outlined, inside, cover


predictor_module.SpdPredictor._tuned_outline = tuned_outline
run_given_script()
