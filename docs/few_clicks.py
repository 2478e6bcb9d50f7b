"""A few clicks on a structure, as a clinician places them on an organ: the default (``--prior auto``) against frozen +
boxes on the same clicks, on cases of the development CT (never on the held-out cases of docs/RESULTS.md).

Protocols, each with seeds 0 and 1 (the seed draws where on a slice a click lands):

- ``spread``: one click on each of three slices, at a quarter, half and three quarters of the structure's extent;
- ``one-slice``: two clicks on the structure's middle slice.

Every click is drawn from the pixels at least half as deep inside the structure as its deepest pixel on that slice.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/few_clicks.py CASES.json [CASE ...]
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

PROTOCOLS = ("spread", "one-slice")
SEEDS = (0, 1)


def few_clicks(mask_kji: np.ndarray, axis: int, protocol: str, seed: int) -> Prompts:
    """The clicks of ``protocol`` on the structure ``mask_kji`` (see the module docstring)."""
    stack = to_stack(mask_kji.astype(bool), axis)
    slices = np.flatnonzero(stack.any(axis=(1, 2)))
    if protocol == "spread":
        chosen = [(int(slices[int(round(q * (len(slices) - 1)))]), 1) for q in (0.25, 0.5, 0.75)]
    elif protocol == "one-slice":
        chosen = [(int(slices[len(slices) // 2]), 2)]
    else:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for t, count in chosen:
        depth = ndimage.distance_transform_edt(stack[t])
        ys, xs = np.nonzero(depth >= 0.5 * depth.max())
        rows += [(t, xs[pick], ys[pick]) for pick in rng.integers(len(xs), size=count)]
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def main(cases_file: str, *names: str) -> None:
    methods = {"frozen-boxes": SpdPredictor(build_model("frozen"), InferenceOptions(device="cpu", prior="raw",
                                                                                     prompt_mode="boxes")),
               "spd": SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))}
    dsc = {name: [] for name in methods}
    for case in load_named_cases(cases_file, names):
        spacing = tuple(float(s) for s in np.asarray(case.volume.spacing)[::-1])
        reference = case.mask_kji.astype(bool)
        for name, predictor in methods.items():
            predictor.set_volume(case.volume, case.axis)
            for protocol in PROTOCOLS:
                for seed in SEEDS:
                    result = predictor.predict(few_clicks(reference, case.axis, protocol, seed))
                    mask = result.mask_kji.astype(bool)
                    dsc[name].append(compute_dice(mask, reference))
                    hd95 = compute_hd95(mask, reference, spacing) if mask.any() else float("nan")
                    print(f"{case.spec.name:30s} {name:12s} {protocol:9s} seed {seed} route {result.prior.route:10s} "
                          f"DSC {dsc[name][-1]:.3f} HD95 {hd95:6.1f} slices {len(result.slices)}", flush=True)
    for name, values in dsc.items():
        print(f"{name}: mean DSC {statistics.mean(values):.3f} over {len(values)} runs, "
              f"{sum(v == 0 for v in values)} empty or missed")


if __name__ == "__main__":
    main(*sys.argv[1:])
