"""How much of a traced curve's HD95 the label's untraced limbs make (docs/DEFAULT_MODEL.md, "what a curve's HD95
measures on a many-limbed label").

The simulated clinician centerline (SPDSegmentLib.training.simulate) follows one cross-section per slice: the label's
component that continues the previous slice's. On a colon or small bowel whose limbs cross a slice several times,
the other limbs are never prompted, yet the label holds them. After each run line of docs/hd95_parts.py this prints
the share of the label's voxels on the traced limbs (per slice, the label's connected component holding the true
centerline's point) and the run's HD95, stray95 and missed95 against those limbs alone.

Usage: [PROMPT_MODE=boxes] [PROTOCOLS=centerline] PYTHONPATH=SPDSegment:docs .venv/bin/python
       docs/traced_limb_hd95.py CASES.json [MODEL] [PRIOR] [CASE ...]  (the arguments of docs/hd95_parts.py;
       MODEL frozen, PRIOR raw and PROMPT_MODE=boxes give the study's frozen + boxes)
"""

import functools
import os
import sys

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference.metrics import surface_distances
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.slices import from_stack, in_plane_spacing
from SPDSegmentLib.training.simulate import true_centerline

import hd95_parts  # docs/, the script's own folder
import scan_prior_trials

traced = {}  # the case in hand's traced limbs, (K, J, I) bool


def traced_limbs(label_stack: np.ndarray, spacing_xy: tuple[float, float]) -> np.ndarray:
    """(S, H, W) bool: per slice, the label's connected component holding the true centerline's point there."""
    limbs = np.zeros_like(label_stack)
    for t, (x, y) in true_centerline(label_stack, spacing_xy).items():
        components, _ = ndimage.label(label_stack[t])
        limbs[t] = components == components[int(round(y)), int(round(x))]
    return limbs


def cases_with_traced_limbs(*args, **kwargs):
    for case in scan_prior_trials.cases_kept_as_reference(*args, **kwargs):
        label = scan_prior_trials.reference["stack"]
        traced["limbs"] = from_stack(traced_limbs(label, in_plane_spacing(case.volume, case.axis)), case.axis)
        traced["share"] = traced["limbs"].sum() / max(int(label.sum()), 1)
        yield case


def surface_distances_also_to_traced_limbs(prediction, reference, spacing):
    """docs/hd95_parts.py's distances, printing first the same figures against the traced limbs."""
    to_limbs, from_limbs = surface_distances(prediction, traced["limbs"], spacing)
    stray95, missed95 = float(np.percentile(to_limbs, 95)), float(np.percentile(from_limbs, 95))
    print(f"  traced limbs: {traced['share']:.2f} of the label; against them HD95 {max(stray95, missed95):6.1f} "
          f"stray95 {stray95:6.1f} missed95 {missed95:6.1f}", flush=True)
    return surface_distances(prediction, reference, spacing)


if __name__ == "__main__":
    hd95_parts.load_named_cases = cases_with_traced_limbs
    hd95_parts.surface_distances = surface_distances_also_to_traced_limbs
    if os.environ.get("PROMPT_MODE"):
        hd95_parts.InferenceOptions = functools.partial(InferenceOptions, prompt_mode=os.environ["PROMPT_MODE"])
    hd95_parts.main(*sys.argv[1:])
