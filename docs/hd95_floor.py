"""The HD95 a perfect segmentation of what was prompted would get, run by run, on the study's prompts.

For each case, protocol and seed of docs/make_results.sh (the same prompts every method gets), the floor mask is,
on every prompted slice, the label's connected regions that hold a positive prompt: what the prompts point at,
segmented without a single wrong pixel. Label regions no prompt touches (another loop of the colon, the other
limb of the aortic arch on the same slices) stay unsegmented, so their distance to the mask is HD95 that no
method segmenting only what was prompted can avoid. No model runs.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/hd95_floor.py CASES.json [CASE ...]
  CASES.json: the cases file docs/make_results.sh writes (runs/results_core/test_cases.json).
"""

import statistics
import sys

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95
from SPDSegmentLib.inference.slices import from_stack, to_stack
from SPDSegmentLib.training.dataset import load_named_cases
from SPDSegmentLib.training.evaluate import case_prompts

PROTOCOLS = ("centerline", "noise")
SEEDS = (0, 1)


def prompted_regions(reference_stack: np.ndarray, prompts) -> np.ndarray:
    """(S, H, W) bool: on each prompted slice, the reference regions holding a positive prompt."""
    floor = np.zeros_like(reference_stack, bool)
    height, width = reference_stack.shape[1:]
    for t in prompts.slices:
        xy = np.rint(prompts.on_slice(int(t), positive=True)).astype(int)
        regions, _ = ndimage.label(reference_stack[t])
        ids = regions[np.clip(xy[:, 1], 0, height - 1), np.clip(xy[:, 0], 0, width - 1)]
        floor[t] = np.isin(regions, ids[ids > 0])
    return floor


def main(cases_file: str, *names: str) -> None:
    hd95s = {protocol: [] for protocol in PROTOCOLS}
    for case in load_named_cases(cases_file, names):
        name = case.spec.name
        spacing = tuple(float(s) for s in np.asarray(case.volume.spacing)[::-1])
        reference = case.mask_kji.astype(bool)
        for protocol in PROTOCOLS:
            for seed in SEEDS:
                floor = from_stack(prompted_regions(to_stack(reference, case.axis),
                                                    case_prompts(case, protocol, seed)), case.axis)
                hd95 = compute_hd95(floor, reference, spacing)
                hd95s[protocol].append(hd95)
                print(f"{name:28s} {protocol:10s} seed {seed} DSC {compute_dice(floor, reference):.3f} "
                      f"HD95 {hd95:6.1f}", flush=True)
    runs = [h for protocol in PROTOCOLS for h in hd95s[protocol]]
    for protocol in PROTOCOLS:
        if hd95s[protocol]:
            print(f"mean HD95 over {len(hd95s[protocol])} {protocol} runs: {statistics.mean(hd95s[protocol]):.1f} mm")
    if runs:
        print(f"mean HD95 over all {len(runs)} runs: {statistics.mean(runs):.1f} mm")


if __name__ == "__main__":
    main(*sys.argv[1:])
