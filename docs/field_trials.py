"""Small fields of view: the default on a crop shown to the backbone as part of a wider field, against as shipped.

The shipped frame scales a slice so that its longer physical side fills the backbone's input. A crop around a
vessel (18 cm) then shows its anatomy at twice the scale of a whole abdominal slice (35 cm). Here the frame is made
to scale as if the slice were at least MIN_FIELD_MM wide (the rest of the input padded, as segment-anything pads),
for every encoder and decoder call of the run; 0 is the shipped frame. The shipped code is not changed.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/field_trials.py CASES.json MIN_FIELD_MM [CASE ...]
  CASES.json: development cases, e.g. the 1.5 mm crops of docs/fine_pixel_cases.py (runs/dev15/cases.json).
"""

import statistics
import sys

import numpy as np

from SPDSegmentLib.inference import slices
from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.training.dataset import load_named_cases
from SPDSegmentLib.training.evaluate import case_prompts

PROTOCOLS = ("centerline", "noise")
SEEDS = (0, 1)


def frame_with_minimum_field(min_field_mm: float) -> None:
    """Every ModelFrame from here on scales its slice as if it were at least ``min_field_mm`` wide."""

    def scaled_hw(frame) -> tuple[int, int]:
        extent_y = frame.height * frame.spacing_xy[1]
        extent_x = frame.width * frame.spacing_xy[0]
        scale = frame.size / max(extent_x, extent_y, min_field_mm)
        return (max(1, min(frame.size, int(round(extent_y * scale)))),
                max(1, min(frame.size, int(round(extent_x * scale)))))

    slices.ModelFrame.scaled_hw = property(scaled_hw)


def main(cases_file: str, min_field_mm: str, *names: str) -> None:
    frame_with_minimum_field(float(min_field_mm))
    predictor = SpdPredictor(build_model("default"), InferenceOptions(device="cpu", prior="auto"))
    results = []
    for case in load_named_cases(cases_file, names):
        predictor.set_volume(case.volume, case.axis)
        spacing = tuple(float(s) for s in np.asarray(case.volume.spacing)[::-1])
        reference = case.mask_kji.astype(bool)
        for protocol in PROTOCOLS:
            for seed in SEEDS:
                prediction = predictor.predict(case_prompts(case, protocol, seed))
                mask = prediction.mask_kji.astype(bool)
                dsc, hd95 = compute_dice(mask, reference), compute_hd95(mask, reference, spacing)
                results.append((protocol, dsc))
                print(f"field {float(min_field_mm):.0f} mm {case.spec.name:22s} {protocol:10s} seed {seed} "
                      f"{prediction.prior.route:10s} DSC {dsc:.3f} HD95 {hd95:6.1f}", flush=True)
    for protocol in PROTOCOLS:
        runs = [dsc for p, dsc in results if p == protocol]
        if runs:
            print(f"field {float(min_field_mm):.0f} mm: mean DSC {statistics.mean(runs):.3f} over {len(runs)} "
                  f"{protocol} runs")


if __name__ == "__main__":
    main(*sys.argv[1:])
