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

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import mask_box

from predictor_trials import run_given_script

AGREE = float(os.environ.get("AGREE", "0"))
choose_as_shipped = predictor_module.choose_prior
outline_as_shipped = predictor_module.SpdPredictor._tuned_outline
current = {}


def choose_prior(*args, **kwargs):
    current["choice"] = choose_as_shipped(*args, **kwargs)
    return current["choice"]


def outline_from_fitted_boxes(self, masks, prompts, progress, cancel):
    segmented = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
    negatives = prompts.select(~prompts.positive)
    pad = self.box_fitting.pad_px
    on_slices = [negatives.on_slice(int(t)) for t in segmented]
    requests = [(int(t), xy, np.zeros(len(xy)), mask_box(masks[t], pad)) for t, xy in zip(segmented, on_slices)]
    tuned = self._union(requests, self._decode(requests, None, progress, cancel)[0])
    return predictor_module.outline_within(masks, tuned)


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


predictor_module.choose_prior = choose_prior
predictor_module.SpdPredictor._tuned_outline = tuned_outline
run_given_script()
