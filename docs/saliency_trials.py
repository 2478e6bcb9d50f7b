"""Where the saliency head runs, measured (docs/PERFORMANCE.md): the head alone on one slice's embeddings in torch,
ONNX Runtime and OpenVINO (median of 15 after warm-up, 2 threads), then the bench's 100-slice centerline volume
with ``--runtime auto`` (encoder on OpenVINO, decoder on ONNX Runtime) and the head on each of the three, first run
with the exports prepared, in rotation, twice each; its encoder seconds show what the head's runtime does to the
encoder running beside it.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/saliency_trials.py
"""

import statistics
import tempfile
import time
from pathlib import Path

import torch

from SPDSegmentLib.inference.model_spec import RANDOM_WEIGHTS, parse_model_spec
from SPDSegmentLib.inference.onnx_saliency import exported_saliency_head
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.tools.bench import _spd_model, bench_case


class HeadOn(SpdPredictor):
    """The default's predictor with its saliency head on ``head_runtime`` (``torch``, ``onnx`` or ``openvino``)."""

    def __init__(self, head_runtime: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.head_runtime = head_runtime
        self.encoder_seconds = 0.0

    def _saliency_logits(self, embeddings):
        if self.head_runtime == "torch":
            return self.model.saliency_logits(embeddings)
        if self._exported_saliency is None or self._exported_saliency.runtime != self.head_runtime:
            head = self.model.saliency_head
            self._exported_saliency = exported_saliency_head(head, 64, torch.get_num_threads(), self.head_runtime)
        return self._exported_saliency(embeddings)

    def _encode_slices(self, slices):
        started = time.perf_counter()
        embeddings = super()._encode_slices(slices)
        self.encoder_seconds += time.perf_counter() - started
        return embeddings


def head_alone(head: torch.nn.Module) -> None:
    embeddings = torch.randn(1, 256, 64, 64)
    directory = Path(tempfile.mkdtemp())
    runners = {"torch": head, **{runtime: exported_saliency_head(head, 64, 2, runtime, directory)
                                 for runtime in ("onnx", "openvino")}}
    with torch.no_grad():
        for name, run in runners.items():
            for _ in range(3):
                run(embeddings)
            times = []
            for _ in range(15):
                started = time.perf_counter()
                run(embeddings)
                times.append(time.perf_counter() - started)
            print(f"head alone on {name}: {1000 * statistics.median(times):.1f} ms a slice", flush=True)


def main() -> None:
    spec = parse_model_spec("litemedsam", missing_checkpoint=RANDOM_WEIGHTS)
    case, prompts = bench_case(100, prompts="centerline")
    head_alone(_spd_model(spec, None).saliency_head.eval())
    results = {name: [] for name in ("torch", "onnx", "openvino")}
    for _ in range(2):
        for name in results:
            predictor = HeadOn(name, _spd_model(spec, None), InferenceOptions(device="cpu", runtime="auto"))
            predictor.prepare_exports()
            predictor.set_volume(case.volume, 2)
            seconds = predictor.predict(prompts).seconds
            results[name].append((seconds, predictor.encoder_seconds))
            print(f"head on {name}: first run {seconds:.2f} s, encoder {predictor.encoder_seconds:.2f} s", flush=True)
    for name, runs in results.items():
        print(f"head on {name}: mean first run {statistics.mean(s for s, _ in runs):.2f} s, "
              f"encoder {statistics.mean(e for _, e in runs):.2f} s")


if __name__ == "__main__":
    main()
