"""Trial, not adopted: every continuity check of the random clicks' route (the nearest slices, the wider window,
the other cross-sections and their chance of a stray neighbour) with a fixed sigma of SIGMA mm instead of 10 mm
(closeness 1/2 at 1.18 x SIGMA), on the runs of docs/hd95_parts.py. docs/continuity_radius_trials.py took the radius
from the fitted masks instead (docs/DEFAULT_MODEL.md, "a continuity radius from the structure").

Usage: SIGMA=20 [PROTOCOLS=noise] PYTHONPATH=SPDSegment .venv/bin/python docs/continuity_sigma_trials.py CASES.json \
    [MODEL] [PRIOR] [CASE ...]
"""

import os
import sys

from SPDSegmentLib.inference import continuity_prior, predictor as predictor_module

import hd95_parts  # docs/, the script's own folder

SIGMA_MM = float(os.environ["SIGMA"])
saliency_as_shipped = continuity_prior.continuity_saliency
chance_as_shipped = continuity_prior.chance_of_a_stray_neighbour


def continuity_saliency(*args, **kwargs):
    return saliency_as_shipped(*args, **{**kwargs, "sigma_mm": SIGMA_MM})


def chance_of_a_stray_neighbour(*args, **kwargs):
    return chance_as_shipped(*args, **{**kwargs, "sigma_mm": SIGMA_MM})


if __name__ == "__main__":
    continuity_prior.continuity_saliency = continuity_saliency
    continuity_prior.chance_of_a_stray_neighbour = chance_of_a_stray_neighbour
    predictor_module.continuity_saliency = continuity_saliency
    hd95_parts.main(*sys.argv[1:])
