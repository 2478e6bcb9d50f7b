"""Which runs the cross-sections the clicks share changed (SPDSegmentLib.inference.shared_cross_sections): each run
line of docs/hd95_parts.py, and after a run where cross-sections joined, a line with their count and the run's
figures without them (the segment as the route left it), so a study's runs before the step need not be rerun.

Usage: [PROTOCOLS=noise] PYTHONPATH=SPDSegment:docs .venv/bin/python docs/shared_cross_sections_runs.py CASES.json
       [MODEL] [PRIOR] [CASE ...]
"""

import sys

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95
from SPDSegmentLib.inference.slices import from_stack

import hd95_parts  # docs/, the script's own folder

join_as_shipped = predictor_module.SpdPredictor._shared_cross_sections
dice_as_imported = hd95_parts.compute_dice
before_join: dict[str, np.ndarray] = {}


def join_recording(self, masks, prompts, choice, progress, cancel):
    joined, noted = join_as_shipped(self, masks, prompts, choice, progress, cancel)
    if noted is not choice:
        before_join["mask"] = from_stack(masks.astype(np.uint8), self.axis).astype(bool)
        before_join["spacing"] = self.volume.spacing_kji
        before_join["count"] = noted.reason.rsplit("(", 1)[-1].rstrip(")")
    return joined, noted


def dice_then_before(mask, reference):
    """hd95_parts's DSC of the run, printing first the figures of the segment before the join where one joined."""
    mask_before = before_join.pop("mask", None)
    if mask_before is not None:
        print(f"  {before_join['count']} joined; without them DSC {compute_dice(mask_before, reference):.3f} HD95 "
              f"{compute_hd95(mask_before, reference, before_join['spacing']):6.1f}", flush=True)
    return dice_as_imported(mask, reference)


if __name__ == "__main__":
    predictor_module.SpdPredictor._shared_cross_sections = join_recording
    hd95_parts.compute_dice = dice_then_before
    hd95_parts.main(*sys.argv[1:])
