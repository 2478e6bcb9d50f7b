"""The int8 trials of docs/PERFORMANCE.md: ONNX Runtime's dynamic and static quantisation of the kept LiteMedSAM
encoder export, against the fp32 export (relative L2 error of the embeddings, median time of 5 alternating runs).

- dynamic: QInt8 weights, activations quantised on the fly; measured on one random 256 x 256 image.
- static: QDQ, per-channel QInt8 weights and QUInt8 activations calibrated (min/max) on every 12th slice of two
  development cases (the CT small bowel's scan and generated volume 2026); once with every operator ONNX
  Runtime quantises, once with the convolutions only. Measured on every 10th slice of generated volume 2027.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/int8_trial.py EXPORTED.onnx [CASES.json]
  EXPORTED.onnx: a file of ~/.SPDSegment/models/exported; CASES.json: the development cases file
  (runs/dev/dev_cases.json, written by docs/dev_results.sh); without it only the dynamic trial runs.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def model_inputs(cases_file: str, names: list[str], every: int) -> list[np.ndarray]:
    """(1, 3, 256, 256) encoder inputs of every ``every``-th slice of the named cases, as the predictor makes them."""
    import torch

    from SPDSegmentLib.inference.model import build_model
    from SPDSegmentLib.inference.options import InferenceOptions
    from SPDSegmentLib.inference.predictor import SpdPredictor
    from SPDSegmentLib.training.dataset import load_named_cases

    predictor = SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))
    images = []
    for case in load_named_cases(cases_file, names):
        predictor.set_volume(case.volume, case.axis)
        stack = predictor._stack
        images += [predictor._frame.images_to_model(torch.from_numpy(stack[[t]])).numpy()
                   for t in range(0, len(stack), every)]
    return images


class Calibration(CalibrationDataReader):
    def __init__(self, images: list[np.ndarray]):
        self.images = iter(images)

    def get_next(self):
        image = next(self.images, None)
        return None if image is None else {"images": image}


def compare(name: str, fp32: ort.InferenceSession, int8: ort.InferenceSession, images: list[np.ndarray]) -> None:
    errors = []
    for image in images:
        a, b = fp32.run(None, {"images": image})[0], int8.run(None, {"images": image})[0]
        errors.append(np.linalg.norm(a - b) / np.linalg.norm(a))
    times = {"fp32": [], name: []}
    for _ in range(5):
        for label, runner in (("fp32", fp32), (name, int8)):
            started = time.perf_counter()
            runner.run(None, {"images": images[0]})
            times[label].append(time.perf_counter() - started)
    print(f"{name}: relative L2 error of the embeddings {np.mean(errors):.3f} (min {np.min(errors):.3f}, "
          f"{len(images)} images); " + ", ".join(f"{label} {1000 * np.median(values):.0f} ms"
                                                  for label, values in times.items()), flush=True)


def main(source: str, cases_file: str | None = None) -> None:
    folder = Path(tempfile.mkdtemp())
    fp32 = session(source)
    quantize_dynamic(source, str(folder / "dynamic.onnx"), weight_type=QuantType.QInt8)
    compare("dynamic int8", fp32, session(str(folder / "dynamic.onnx")),
            [np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)])
    if cases_file is None:
        return
    calibration = model_inputs(cases_file, ["dev-ct-small-bowel", "synthetic-2026"], 12)
    test = model_inputs(cases_file, ["synthetic-2027"], 10)
    quant_pre_process(source, str(folder / "prepared.onnx"))
    for name, operators in (("static int8, all operators", None), ("static int8, convolutions", ["Conv"])):
        target = str(folder / f"{len(operators or [])}.onnx")
        quantize_static(str(folder / "prepared.onnx"), target, Calibration(calibration), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=operators)
        compare(name, fp32, session(target), test)


if __name__ == "__main__":
    main(*sys.argv[1:])
