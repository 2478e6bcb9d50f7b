"""Small fields of view: the default on a crop shown to the backbone within a given field, against other fields.

Before commit 28675f8 the frame scaled every slice so that its longer physical side filled the backbone's input. A
crop around a vessel (18 cm) then showed its anatomy at twice the scale of a whole abdominal slice (35 cm). The
shipped frame shows a crop within a 360 mm field (``CROP_FIELD_MM`` in inference/slices.py). Here every frame,
crop or whole slice, scales its slice as if it were at least MIN_FIELD_MM wide (the rest of the input padded, as
segment-anything pads), for every encoder and decoder call of the run: 0 is the frame before commit 28675f8, 360
the shipped frame on a crop (but also applied to whole slices narrower than 360 mm). The shipped code is not changed.

Each run is scored by docs/hd95_parts.py (DSC, HD95 and its two sides, centerline and random points, seeds 0 and 1).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/field_trials.py CASES.json MIN_FIELD_MM [CASE ...]
  CASES.json: development cases, e.g. the crops of docs/fine_pixel_cases.py (runs/dev15/cases.json).
"""

import sys

import hd95_parts
from SPDSegmentLib.inference import slices


def frame_with_minimum_field(min_field_mm: float) -> None:
    """Every ModelFrame from here on scales its slice as if it were at least ``min_field_mm`` wide."""
    slices.ModelFrame.field_mm = property(
        lambda frame: max(frame.width * frame.spacing_xy[0], frame.height * frame.spacing_xy[1], min_field_mm))


def main(cases_file: str, min_field_mm: str, *names: str) -> None:
    frame_with_minimum_field(float(min_field_mm))
    hd95_parts.main(cases_file, "default", "auto", *names)


if __name__ == "__main__":
    main(*sys.argv[1:])
