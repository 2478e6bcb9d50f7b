"""Trial: the tuned decoder draws the continuity route's outline only where the learned prior recognises the
target on this scan.

As shipped, where the learned prior is overruled for the volume, the adapter's tuned decoder still draws each
slice's outline within the fitted structure when over 60 % of its mask lies inside it
(:meth:`SPDSegmentLib.inference.predictor.SpdPredictor._tuned_outline`). That decoder learned the terminal ileum's
lumen; on a scan whose target it does not know (a CT liver, an aorta) it can cut the structure to a patch. Here it
draws only when the learned prior accepted at least ``AGREE`` of the prompts the continuity prior keeps (the
agreement the prior choice measures); below that the fitted masks stay. Each run's agreement is printed before
its line.

Usage: AGREE=0.1 PYTHONPATH=SPDSegment .venv/bin/python docs/outline_agreement_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
"""

import os

from SPDSegmentLib.inference import predictor as predictor_module

from predictor_trials import recorded_prior_choice, run_given_script

AGREE = float(os.environ.get("AGREE", "0.1"))
outline_as_shipped = predictor_module.SpdPredictor._tuned_outline
current = recorded_prior_choice()


def tuned_outline(self, *args, **kwargs):
    outlined, inside, cover = outline_as_shipped(self, *args, **kwargs)
    agreement = current["choice"].agreement
    drawn = outlined is not None and agreement is not None and agreement >= AGREE
    print(f"   agreement {agreement if agreement is None else round(agreement, 3)}, inside {inside:.2f}: outline "
          f"{'drawn' if drawn else 'not drawn'}{' (shipped: drawn)' if outlined is not None else ''}", flush=True)
    return (outlined if drawn else None), inside, cover


predictor_module.SpdPredictor._tuned_outline = tuned_outline
run_given_script()
