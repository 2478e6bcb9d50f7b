"""Whether the runtime changes a mask: the default model with the encoder on ONNX Runtime and the mask decoder in
torch, in batches of 8 (as the accuracy study ran before the decoder was exported), and as ``--runtime auto`` runs
it (the encoder on OpenVINO, the decoder exported to ONNX Runtime, in batches of 2), on the same prompts of
development cases (centerline, 1 TP + 2-5 random points, and 10 random points per slice; seeds 0 and 1), voxel
for voxel.

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


def study_predictor() -> SpdPredictor:
    predictor = SpdPredictor(build_model("default"), InferenceOptions(device="cpu", runtime="onnx"))
    predictor.decoder_runtime, predictor.decode_batch_size = "torch", 8
    return predictor


def main(cases_file: str, *names: str) -> None:
    study, default = study_predictor(), SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))
    print(f"study: encoder {study.runtime}, decoder {study.decoder_runtime}; default: encoder {default.runtime}, "
          f"decoder {default.decoder_runtime}")
    same = total = 0
    dice = []
    for case in load_named_cases(cases_file, names):
        for predictor in (study, default):
            predictor.set_volume(case.volume, case.axis)
        for protocol in ("centerline", "noise", "random:10"):
            for seed in (0, 1):
                prompts = case_prompts(case, protocol, seed)
                before, now = (predictor.predict(prompts).mask_kji for predictor in (study, default))
                total += 1
                same += int(np.array_equal(before, now))
                dice.append(compute_dice(before, now))
                print(f"{case.spec.name:22s} {protocol:10s} seed {seed}: {(before != now).sum()} voxels differ, "
                      f"DSC between them {dice[-1]:.4f}", flush=True)
    print(f"identical masks in {same} of {total} runs; lowest DSC between them {min(dice):.4f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
