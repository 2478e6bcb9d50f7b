"""Whether the encoder's runtime changes a mask: the default model on ONNX Runtime and on OpenVINO, on the same
prompts of development cases (centerline, 1 TP + 2-5 random points, and 10 random points per slice; seeds 0 and
1), voxel for voxel. docs/RESULTS.md was measured on ONNX Runtime; ``--runtime auto`` now takes OpenVINO.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/runtime_masks.py CASES.json [CASE ...]
  CASES.json: the development cases file (runs/dev/dev_cases.json, written by docs/dev_results.sh).
"""

import sys

import numpy as np

from SPDSegmentLib.inference.metrics import compute_dice
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.training.dataset import load_named_cases
from SPDSegmentLib.training.evaluate import case_prompts

RUNTIMES = ("onnx", "openvino")


def main(cases_file: str, *names: str) -> None:
    predictors = {runtime: SpdPredictor(build_model("default"), InferenceOptions(device="cpu", runtime=runtime))
                  for runtime in RUNTIMES}
    same = total = 0
    for case in load_named_cases(cases_file, names):
        for predictor in predictors.values():
            predictor.set_volume(case.volume, case.axis)
        for protocol in ("centerline", "noise", "random:10"):
            for seed in (0, 1):
                prompts = case_prompts(case, protocol, seed)
                onnx, openvino = (predictors[runtime].predict(prompts).mask_kji for runtime in RUNTIMES)
                total += 1
                same += int(np.array_equal(onnx, openvino))
                print(f"{case.spec.name:22s} {protocol:10s} seed {seed}: {(onnx != openvino).sum()} voxels differ, "
                      f"DSC between them {compute_dice(onnx, openvino):.4f}", flush=True)
    print(f"identical masks in {same} of {total} runs")


if __name__ == "__main__":
    main(*sys.argv[1:])
