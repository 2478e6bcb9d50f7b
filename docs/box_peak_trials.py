"""Trial (not adopted, docs/DEFAULT_MODEL.md): the clicks' box size chosen before the mean predicted IoU first falls.

Clicks that nothing competes with choose one box half-size from 6 to 96 mm, the smallest whose mean predicted IoU is
within the tolerance of the best (:func:`SPDSegmentLib.inference.box_fitting.smallest_near_best`). Around a thin
vessel the predicted IoU rises again at a large size that takes in the tissue around it. Here, on the clicks' ladder
only (the one that goes to 96 mm), the choice is made among the sizes up to the one before the mean predicted IoU
first falls. It prints, before each run's line, the size chosen and the mean predicted IoU of every size.

Usage: PYTHONPATH=SPDSegment:docs .venv/bin/python docs/box_peak_trials.py docs/click_runs.py CASES.json CASE ...
"""

from SPDSegmentLib.inference import box_fitting
from SPDSegmentLib.inference.click_carrying import ClickCarrying

from predictor_trials import run_given_script

CLICKS_LARGEST_MM = max(ClickCarrying().half_sizes_mm)
smallest_near_best_as_shipped = box_fitting.smallest_near_best


def smallest_near_best(scores: dict[float, float], tolerance: float) -> float:
    if CLICKS_LARGEST_MM not in scores:
        return smallest_near_best_as_shipped(scores, tolerance)
    sizes = sorted(scores)
    rising = [sizes[0]]
    for smaller, larger in zip(sizes, sizes[1:]):
        if scores[larger] < scores[smaller]:
            break
        rising.append(larger)
    half_mm = smallest_near_best_as_shipped({size: scores[size] for size in rising}, tolerance)
    print(f"   first peak: {half_mm:.0f} mm; mean predicted IoU "
          + ", ".join(f"{size:.0f}:{scores[size]:.2f}" for size in sizes), flush=True)
    return half_mm


box_fitting.smallest_near_best = smallest_near_best
run_given_script()
