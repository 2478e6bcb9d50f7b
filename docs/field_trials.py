"""Small fields of view: the default on a crop shown to the backbone as part of a wider field, against as shipped.

The shipped frame scales a slice so that its longer physical side fills the backbone's input. A crop around a
vessel (18 cm) then shows its anatomy at twice the scale of a whole abdominal slice (35 cm). Here the frame is made
to scale as if the slice were at least MIN_FIELD_MM wide (the rest of the input padded, as segment-anything pads),
for every encoder and decoder call of the run; 0 is the shipped frame. The shipped code is not changed.

Each run is scored by docs/hd95_parts.py (DSC, HD95 and its two sides, centerline and random points, seeds 0 and 1).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/field_trials.py CASES.json MIN_FIELD_MM [CASE ...]
  CASES.json: development cases, e.g. the 1.5 mm crops of docs/fine_pixel_cases.py (runs/dev15/cases.json).
"""

import sys

import hd95_parts
from SPDSegmentLib.inference import slices


def frame_with_minimum_field(min_field_mm: float) -> None:
    """Every ModelFrame from here on scales its slice as if it were at least ``min_field_mm`` wide."""

    def scaled_hw(frame) -> tuple[int, int]:
        extent_y = frame.height * frame.spacing_xy[1]
        extent_x = frame.width * frame.spacing_xy[0]
        scale = frame.size / max(extent_x, extent_y, min_field_mm)
        return (max(1, min(frame.size, int(round(extent_y * scale)))),
                max(1, min(frame.size, int(round(extent_x * scale)))))

    slices.ModelFrame.scaled_hw = property(scaled_hw)


def main(cases_file: str, min_field_mm: str, *names: str) -> None:
    frame_with_minimum_field(float(min_field_mm))
    hd95_parts.main(cases_file, "default", "auto", *names)


if __name__ == "__main__":
    main(*sys.argv[1:])
