"""The decoder trials of docs/PERFORMANCE.md: LiteMedSAM's mask decoder (the backbone's own) in torch, and exported to
ONNX on ONNX Runtime and on OpenVINO (the product's own ExportedDecoder), milliseconds per prompt set in batches of
1, 2, 4 and 8 (one box each, embeddings of a real MR slice), median of 7 after a warm-up, 2 threads; and the largest
difference of the logits from torch's.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/decoder_trials.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from SPDSegmentLib.inference.backbones import build_litemedsam
from SPDSegmentLib.inference.onnx_decoder import exported_decoder
from SPDSegmentLib.training.dataset import CaseSpec, load_case

DATA = Path(__file__).resolve().parents[1] / "Testing" / "Data"


def real_embedding(backbone) -> torch.Tensor:
    case = load_case(CaseSpec(DATA / "mr_colon_image.nii.gz", DATA / "mr_colon_labels.nii.gz", 15))
    image = torch.from_numpy(case.volume.array_kji[1].astype(np.float32))
    image = (image - image.min()) / (image.max() - image.min())
    with torch.no_grad():
        return backbone.encode(torch.nn.functional.interpolate(image[None, None], size=(256, 256)).repeat(1, 3, 1, 1))


def median_ms(run, repeats: int = 7) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1000 * float(np.median(times))


def main() -> None:
    torch.set_num_threads(2)
    backbone = build_litemedsam().eval().optimise_for_inference()
    folder = Path(tempfile.mkdtemp())
    decoders = {"torch": None, **{name: exported_decoder(backbone.mask_decoder, 64, 2, runtime, folder)
                                  for name, runtime in (("ONNX Runtime", "onnx"), ("OpenVINO", "openvino"))}}
    embedding = real_embedding(backbone)
    print("ms per prompt set (one box each), median of 7 | batch 1, 2, 4, 8 | largest logit difference from torch")
    for name, decoder in decoders.items():
        row, error = [], 0.0
        for batch in (1, 2, 4, 8):
            embeddings = embedding.repeat(batch, 1, 1, 1)
            boxes = torch.tensor([[60.0, 70.0, 150.0, 160.0]]).repeat(batch, 1)
            with torch.no_grad():
                row.append(median_ms(lambda: backbone.decode(embeddings, None, None, boxes, decoder)) / batch)
                if decoder is not None:
                    expected = backbone.decode(embeddings, None, None, boxes)[0]
                    error = max(error, float((backbone.decode(embeddings, None, None, boxes, decoder)[0]
                                              - expected).abs().max()))
        print(f"{name:13s} " + "  ".join(f"{ms:6.1f}" for ms in row) + (f"   {error:.1e}" if decoder else ""),
              flush=True)


if __name__ == "__main__":
    main()
