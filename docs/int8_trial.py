"""The int8 trial of docs/PERFORMANCE.md: ONNX Runtime's dynamic quantisation of the kept LiteMedSAM encoder
export, against the fp32 export on one random 256 x 256 image (error and median time of 5 alternating runs).

Usage: .venv/bin/python docs/int8_trial.py EXPORTED.onnx   (a file of ~/.SPDSegment/models/exported)
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic


def session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main(source: str) -> None:
    quantised = str(Path(tempfile.mkdtemp()) / "int8.onnx")
    quantize_dynamic(source, quantised, weight_type=QuantType.QInt8)
    fp32, int8 = session(source), session(quantised)
    image = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    a, b = fp32.run(None, {"images": image})[0], int8.run(None, {"images": image})[0]
    print(f"relative L2 error of the int8 embeddings: {np.linalg.norm(a - b) / np.linalg.norm(a):.3f}")
    times = {"fp32": [], "int8": []}
    for _ in range(5):
        for name, runner in (("fp32", fp32), ("int8", int8)):
            started = time.perf_counter()
            runner.run(None, {"images": image})
            times[name].append(time.perf_counter() - started)
    print(", ".join(f"{name} {1000 * np.median(values):.0f} ms" for name, values in times.items()))


if __name__ == "__main__":
    main(sys.argv[1])
