"""The tuned decoder's outline on the continuity route with another threshold than the shipped one: docs/hd95_parts.py
with ``TUNED_OUTLINE_MIN_INSIDE`` (the share of the tuned decoder's mask that must lie inside the fitted structure)
set to MIN_INSIDE; -1 draws the outline on every continuity run with a learned prior, 1 on none.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/outline_trials.py MIN_INSIDE CASES.json [CASE ...]
"""

import sys

import hd95_parts
from SPDSegmentLib.inference import predictor


def main(min_inside: str, cases_file: str, *names: str) -> None:
    predictor.TUNED_OUTLINE_MIN_INSIDE = float(min_inside)
    hd95_parts.main(cases_file, "default", "auto", *names)


if __name__ == "__main__":
    main(*sys.argv[1:])
