"""The encoder trials of docs/PERFORMANCE.md: the kept LiteMedSAM encoder export on each CPU runtime and
quantisation tried, against ONNX Runtime in fp32 (relative L2 error of the embeddings over the test slices, and
median milliseconds of 7 alternating runs on one slice, 2 threads).

- OpenVINO in fp32 (what ``--runtime auto`` takes) and with its bf16 precision hint.
- ONNX Runtime's dynamic int8: QInt8 weights, activations quantised on the fly.
- ONNX Runtime's static int8: QDQ, per-channel QInt8 weights and QUInt8 activations calibrated (min/max) on every
  12th slice of two development cases (the CT small bowel's scan and generated volume 2026); once with every
  operator ONNX Runtime quantises, once with the convolutions only.
Test slices: every 10th slice of generated volume 2027.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/encoder_trials.py EXPORTED.onnx CASES.json
  EXPORTED.onnx: a file of ~/.SPDSegment/models/exported; CASES.json: the development cases file
  (runs/dev/dev_cases.json, written by docs/dev_results.sh).
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

from SPDSegmentLib.inference.exported_graphs import OnnxRuntimeSession, OpenVinoSession


def model_inputs(cases_file: str, names: list[str], every: int) -> list[np.ndarray]:
    """(1, 3, 256, 256) encoder inputs of every ``every``-th slice of the named cases, as the predictor makes them."""
    from SPDSegmentLib.inference.model import build_model
    from SPDSegmentLib.inference.options import InferenceOptions
    from SPDSegmentLib.inference.predictor import SpdPredictor
    from SPDSegmentLib.training.dataset import load_named_cases

    predictor = SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))
    images = []
    for case in load_named_cases(cases_file, names):
        predictor.set_volume(case.volume, case.axis)
        images += [predictor.model_inputs([t]).numpy() for t in range(0, predictor.slice_count, every)]
    return images


class Calibration(CalibrationDataReader):
    def __init__(self, images: list[np.ndarray]):
        self.images = iter(images)

    def get_next(self):
        image = next(self.images, None)
        return None if image is None else {"images": image}


def openvino_runner(source: str, precision: str):
    """OpenVINO with a precision hint; ``f32`` is the product's own runner."""
    if precision == "f32":
        session = OpenVinoSession(Path(source), 2)
        return lambda image: session.run({"images": image})[0]
    import openvino

    core = openvino.Core()
    settings = {"INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    request = core.compile_model(core.read_model(source), "CPU", settings).create_infer_request()
    return lambda image: request.infer({0: image})[0].copy()


def onnx_runner(path: str):
    session = OnnxRuntimeSession(Path(path), 2)
    return lambda image: session.run({"images": image})[0]


def compare(name: str, reference, candidate, images: list[np.ndarray]) -> None:
    errors = []
    for image in images:
        a, b = reference(image), candidate(image)
        errors.append(np.linalg.norm(a - b) / np.linalg.norm(a))
    times = {"ONNX Runtime fp32": [], name: []}
    for _ in range(7):
        for label, run in (("ONNX Runtime fp32", reference), (name, candidate)):
            started = time.perf_counter()
            run(images[0])
            times[label].append(time.perf_counter() - started)
    print(f"{name}: relative L2 error of the embeddings {np.mean(errors):.2e} (max {np.max(errors):.2e}, "
          f"{len(images)} slices); " + ", ".join(f"{label} {1000 * np.median(values):.0f} ms"
                                                   for label, values in times.items()), flush=True)


def main(source: str, cases_file: str) -> None:
    folder = Path(tempfile.mkdtemp())
    reference = onnx_runner(source)
    test = model_inputs(cases_file, ["synthetic-2027"], 10)
    compare("OpenVINO fp32", reference, openvino_runner(source, "f32"), test)
    compare("OpenVINO bf16", reference, openvino_runner(source, "bf16"), test)
    quantize_dynamic(source, str(folder / "dynamic.onnx"), weight_type=QuantType.QInt8)
    compare("dynamic int8", reference, onnx_runner(str(folder / "dynamic.onnx")), test)
    calibration = model_inputs(cases_file, ["dev-ct-small-bowel", "synthetic-2026"], 12)
    quant_pre_process(source, str(folder / "prepared.onnx"))
    for name, operators in (("static int8, all operators", None), ("static int8, convolutions", ["Conv"])):
        target = str(folder / f"{len(operators or [])}.onnx")
        quantize_static(str(folder / "prepared.onnx"), target, Calibration(calibration), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, op_types_to_quantize=operators)
        compare(name, reference, onnx_runner(target), test)


if __name__ == "__main__":
    main(*sys.argv[1:])
