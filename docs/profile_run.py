"""Where a run's time goes: cProfile of the bench's first run and of its re-run (every prompt moved by 1 pixel,
embeddings cached) on the bench's 100-slice centerline volume, with the runtimes ``--runtime auto`` takes on the CPU
(exports prepared beforehand, as a second run of the model finds them kept).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/profile_run.py [N_LINES]
Prints each run's seconds, then its profile by cumulative time.
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


def profiled(name: str, run, lines: int):
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    result = run()
    profile.disable()
    print(f"{name}: {time.perf_counter() - started:.2f} s ({result.prior.label})", flush=True)
    pstats.Stats(profile).sort_stats("cumulative").print_stats(lines)


def main(lines: int = 30) -> None:
    case, prompts = bench_case(100, prompts="centerline")
    spec = parse_model_spec("litemedsam", missing_checkpoint=RANDOM_WEIGHTS)
    predictor = SpdPredictor(_spd_model(spec, None), InferenceOptions(device="cpu", precision="fp32", runtime="auto"))
    predictor.prepare_exports()
    predictor.set_volume(case.volume, 2)
    print(f"encoder on {predictor.runtime}, decoder on {predictor.decoder_runtime}")
    profiled("first run", lambda: predictor.predict(prompts), lines)
    moved = Prompts(prompts.slice_index, prompts.xy + 1.0, prompts.positive)
    profiled("re-run, every prompt moved by 1 pixel", lambda: predictor.predict(moved), lines)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
