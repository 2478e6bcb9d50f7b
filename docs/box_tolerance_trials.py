"""Trial (refused by the held-out study, docs/DEFAULT_MODEL.md): the fitted boxes' size chosen with another
tolerance than BoxFitting's 0.05.

The box-size choice takes the smallest half-size whose mean predicted IoU is within ``tolerance`` of the best
(:func:`SPDSegmentLib.inference.box_fitting.choose_half_size`). This runs docs/hd95_parts.py (or any script that
builds its predictor the same way) with the tolerance set to ``TOL`` and prints, before each run's line, the size
chosen and the mean predicted IoU of every candidate size.

Usage: TOL=0.02 PYTHONPATH=SPDSegment .venv/bin/python docs/box_tolerance_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
"""

import os
from dataclasses import replace

from SPDSegmentLib.inference import predictor as predictor_module

from predictor_trials import run_given_script

TOLERANCE = float(os.environ["TOL"])
choose_as_shipped = predictor_module.choose_half_size


def choose_half_size(candidates, decode, spacing_mm, fitting):
    half_mm, scores = choose_as_shipped(candidates, decode, spacing_mm, replace(fitting, tolerance=TOLERANCE))
    print(f"   tolerance {TOLERANCE}: {half_mm:.0f} mm; mean predicted IoU "
          + ", ".join(f"{size:.0f}:{score:.2f}" for size, score in scores.items()), flush=True)
    return half_mm, scores


predictor_module.choose_half_size = choose_half_size
run_given_script()
