"""Where a run's HD95 comes from: the prediction far from the reference (stray regions) or the reference far
from the prediction (parts never segmented), run by run, on the development cases of docs/dev_results.sh.

Usage: [PROTOCOLS=noise] PYTHONPATH=SPDSegment .venv/bin/python docs/hd95_parts.py CASES.json [MODEL] [PRIOR]
  [CASE ...]
  MODEL default | frozen | ADAPTER (default: default); PRIOR auto | learned | none | raw (default: auto);
  PROTOCOLS: the prompt protocols to run (default: centerline noise).
  stray95: 95th percentile of the distances from the prediction's surface to the reference's;
  missed95: the same from the reference to the prediction. HD95 is the larger of the two.
  "outline" marks the runs whose outline the adapter's tuned decoder drew (the continuity route's last step); the
  share of the tuned decoder's mask that lay inside the fitted structure and the share of that structure it covered
  follow, inside/cover (it draws if inside > TUNED_OUTLINE_MIN_INSIDE of SPDSegmentLib.inference.predictor).
  "drift slices A-B" ends the runs where the learned prior settled a region beside a traced structure as the curve's
  drift (the slices of that region, in the slice stack).
"""

import os
import statistics
import sys
import time

import numpy as np

from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95, surface_distances
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.inference.slices import to_stack
from SPDSegmentLib.training.dataset import load_named_cases
from SPDSegmentLib.training.evaluate import case_prompts

PROTOCOLS = tuple(os.environ.get("PROTOCOLS", "centerline noise").split())


def main(cases_file: str, model: str = "default", prior: str = "auto", *names: str) -> None:
    predictor = SpdPredictor(build_model(model), InferenceOptions(device="cpu", prior=prior))
    results = []
    for case in load_named_cases(cases_file, names):
        name = case.spec.name
        predictor.set_volume(case.volume, case.axis)
        spacing = case.volume.spacing_kji
        reference = case.mask_kji.astype(bool)
        ref_slices = set(np.flatnonzero(to_stack(reference, case.axis).any(axis=(1, 2))))
        for protocol in PROTOCOLS:
            for seed in (0, 1):
                started = time.perf_counter()
                prediction = predictor.predict(case_prompts(case, protocol, seed))
                mask = prediction.mask_kji.astype(bool)
                to_ref, from_ref = surface_distances(mask, reference, spacing) if mask.any() else ([np.inf], [np.inf])
                covered = ref_slices & set(np.flatnonzero(to_stack(mask, case.axis).any(axis=(1, 2))))
                figures = {"dsc": compute_dice(mask, reference), "hd95": compute_hd95(mask, reference, spacing),
                           "stray95": float(np.percentile(to_ref, 95)), "missed95": float(np.percentile(from_ref, 95))}
                results.append((protocol, figures))
                inside, cover = prediction.prior.tuned_outline_inside, prediction.prior.tuned_outline_cover
                outline = ("outline" if prediction.prior.tuned_outline else "") + (
                    "" if inside is None else f" {inside:.2f}/{cover:.2f}")
                drift_slices = prediction.prior.drift_slices
                drift = f" drift slices {drift_slices[0]}-{drift_slices[-1]}" if drift_slices else ""
                print(f"{name:28s} {protocol:10s} seed {seed} {prediction.prior.route:10s} {outline:17s} "
                      f"DSC {figures['dsc']:.3f} HD95 {figures['hd95']:6.1f} stray95 {figures['stray95']:6.1f} "
                      f"missed95 {figures['missed95']:6.1f} reference slices {len(ref_slices)} covered {len(covered)} "
                      f"{time.perf_counter() - started:.0f} s{drift}", flush=True)
    for protocol in PROTOCOLS:
        rows = [f for p, f in results if p == protocol]
        if rows:
            print(f"mean over {len(rows)} {protocol} runs: " + ", ".join(
                f"{key} {statistics.mean(f[key] for f in rows):.3f}" for key in ("dsc", "hd95", "stray95", "missed95")))


if __name__ == "__main__":
    main(*sys.argv[1:])
