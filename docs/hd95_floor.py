"""The HD95 a perfect segmentation of what was prompted would get, run by run, on the study's prompts.

For each case, protocol and seed of docs/make_results.sh (the same prompts every method gets), the floor mask is,
on every prompted slice, the label's connected regions that hold a positive prompt: what the prompts point at,
segmented without a single wrong pixel. Label regions no prompt touches (another loop of the colon, the other
limb of the aortic arch on the same slices) stay unsegmented, so their distance to the mask is HD95 that no
method segmenting only what was prompted can avoid. No model runs.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/hd95_floor.py CASES.json [CASE ...] [--study EVALUATION.json]
  CASES.json: the cases file docs/make_results.sh writes (runs/results_core/test_cases.json).
  --study: the study's evaluation.json; each run's HD95 of the default (method spd) is printed beside its floor.
"""

import argparse
import statistics

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95
from SPDSegmentLib.inference.slices import from_stack, to_stack
from SPDSegmentLib.training.dataset import load_named_cases
from SPDSegmentLib.training.evaluate import case_prompts
from SPDSegmentLib.training.report import read_report

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


def study_hd95(evaluation_file: str | None, method: str = "spd") -> dict[tuple[str, str, int], float]:
    """(case, protocol, seed) -> HD95 of ``method`` in the study's evaluation.json (empty without a file)."""
    if evaluation_file is None:
        return {}
    rows = read_report(evaluation_file)["rows"]
    return {(row["case"], row["protocol"], row["seed"]): row["hd95_mm"] for row in rows
            if row["method"] == method and row["hd95_mm"] is not None}


def main(cases_file: str, names: list[str], evaluation_file: str | None = None) -> None:
    study = study_hd95(evaluation_file)
    hd95s = {protocol: [] for protocol in PROTOCOLS}
    defaults = {protocol: [] for protocol in PROTOCOLS}
    for case in load_named_cases(cases_file, names):
        name = case.spec.name
        spacing = case.volume.spacing_kji
        reference = case.mask_kji.astype(bool)
        for protocol in PROTOCOLS:
            for seed in SEEDS:
                floor = from_stack(prompted_regions(to_stack(reference, case.axis),
                                                    case_prompts(case, protocol, seed)), case.axis)
                hd95 = compute_hd95(floor, reference, spacing)
                hd95s[protocol].append(hd95)
                default = study.get((name, protocol, seed))
                if default is not None:
                    defaults[protocol].append(default)
                print(f"{name:28s} {protocol:10s} seed {seed} DSC {compute_dice(floor, reference):.3f} "
                      f"HD95 {hd95:6.1f}" + ("" if default is None else f"  default in the study {default:6.1f}"),
                      flush=True)
    runs = [h for protocol in PROTOCOLS for h in hd95s[protocol]]
    for protocol in PROTOCOLS:
        if hd95s[protocol]:
            print(f"mean HD95 over {len(hd95s[protocol])} {protocol} runs: {statistics.mean(hd95s[protocol]):.1f} mm"
                  + (f" (the default in the study: {statistics.mean(defaults[protocol]):.1f} mm over "
                     f"{len(defaults[protocol])} runs)" if defaults[protocol] else ""))
    if runs:
        print(f"mean HD95 over all {len(runs)} runs: {statistics.mean(runs):.1f} mm")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases_file")
    parser.add_argument("names", nargs="*")
    parser.add_argument("--study", help="the study's evaluation.json")
    arguments = parser.parse_args()
    main(arguments.cases_file, arguments.names, arguments.study)
