"""Where a re-run's time goes: cProfile of the bench's spd-rerun (every prompt moved by 1 pixel, embeddings
cached) on the bench's 100-slice centerline volume, with the encoder on ONNX Runtime as on the CPU by default.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/profile_rerun.py [N_LINES]
Prints the first run's and the re-run's seconds, then the re-run's profile by cumulative time.
"""

import cProfile
import pstats
import sys
import time

from SPDSegmentLib.inference.model_spec import RANDOM_WEIGHTS, parse_model_spec
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.inference.predictor import SpdPredictor
from SPDSegmentLib.inference.prompts import Prompts
from SPDSegmentLib.tools.bench import _spd_model, bench_case


def main(lines: int = 30) -> None:
    case, prompts = bench_case(100, prompts="centerline")
    spec = parse_model_spec("litemedsam", missing_checkpoint=RANDOM_WEIGHTS)
    predictor = SpdPredictor(_spd_model(spec, None), InferenceOptions(device="cpu", precision="fp32", runtime="auto"))
    predictor.prepare_exports()
    predictor.set_volume(case.volume, 2)
    started = time.perf_counter()
    first = predictor.predict(prompts)
    print(f"first run {time.perf_counter() - started:.2f} s ({first.prior.label})")
    moved = Prompts(prompts.slice_index, prompts.xy + 1.0, prompts.positive)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    predictor.predict(moved)
    profile.disable()
    print(f"re-run, every prompt moved by 1 pixel: {time.perf_counter() - started:.2f} s")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(lines)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
