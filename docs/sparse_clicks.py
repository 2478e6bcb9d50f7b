"""Clicks every few slices instead of a curve: the default (``--prior auto``) against frozen + boxes on the same
clicks, on the development cases of docs/dev_results.sh (never on the held-out cases of docs/RESULTS.md).

A clinician clicking a long organ or vessel places one point on every m-th slice, somewhere well inside the
structure. Simulated here: from a random start among the structure's first m slices, every m-th slice gets one
click drawn from the pixels at least half as deep inside the structure as its deepest pixel.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/sparse_clicks.py CASES.json EVERY [CASE ...]
"""

import statistics
import sys

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.inference.prompts import Prompts
from SPDSegmentLib.inference.slices import to_stack
from SPDSegmentLib.training.dataset import load_named_cases

SEEDS = (0, 1)


def sparse_clicks(mask_kji: np.ndarray, axis: int, every: int, seed: int) -> Prompts:
    """One click on every ``every``-th slice of the structure, well inside it (see the module docstring)."""
    stack = to_stack(mask_kji.astype(bool), axis)
    slices = np.flatnonzero(stack.any(axis=(1, 2)))
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(int(slices[0] + rng.integers(every)), int(slices[-1]) + 1, every):
        if stack[t].any():
            depth = ndimage.distance_transform_edt(stack[t])
            ys, xs = np.nonzero(depth >= 0.5 * depth.max())
            pick = rng.integers(len(xs))
            rows.append((t, xs[pick], ys[pick]))
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def compare(cases_file: str, names, draw) -> None:
    """Frozen + boxes against the default on each case's clicks, ``draw(reference_kji, axis)`` giving the runs as
    (label, Prompts) pairs; prints each run and the mean DSC of each method."""
    methods = {"frozen-boxes": SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", prior="raw",
                                                                                     prompt_mode="boxes")),
               "spd": SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))}
    dsc = {name: [] for name in methods}
    for case in load_named_cases(cases_file, names):
        spacing = case.volume.spacing_kji
        reference = case.mask_kji.astype(bool)
        for name, predictor in methods.items():
            predictor.set_volume(case.volume, case.axis)
            for label, clicks in draw(reference, case.axis):
                result = predictor.predict(clicks)
                mask = result.mask_kji.astype(bool)
                dsc[name].append(compute_dice(mask, reference))
                hd95 = compute_hd95(mask, reference, spacing) if mask.any() else float("nan")
                print(f"{case.spec.name:30s} {name:12s} {label} clicks {len(clicks):3d} "
                      f"route {result.prior.route:10s} DSC {dsc[name][-1]:.3f} HD95 {hd95:6.1f} "
                      f"slices {len(result.slices)}", flush=True)
    for name, values in dsc.items():
        print(f"{name}: mean DSC {statistics.mean(values):.3f} over {len(values)} runs, "
              f"{sum(v == 0 for v in values)} empty or missed")


def main(cases_file: str, every: str, *names: str) -> None:
    compare(cases_file, names, lambda reference, axis: [(f"seed {seed}", sparse_clicks(reference, axis, int(every),
                                                                                       seed)) for seed in SEEDS])


if __name__ == "__main__":
    main(*sys.argv[1:])
