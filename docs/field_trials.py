"""Small fields of view: the default on a crop shown to the backbone as part of a wider field, against as shipped.

The shipped frame scales a slice so that its longer physical side fills the backbone's input. A crop around a
vessel (18 cm) then shows its anatomy at twice the scale of a whole abdominal slice (35 cm). Here the frame is made
to scale as if the slice were at least MIN_FIELD_MM wide (the rest of the input padded, as segment-anything pads),
for every encoder and decoder call of the run; 0 is the shipped frame. With --ct-window, a CT (a volume with at
least 0.5 % of its voxels below -500, air or lung in Hounsfield units) is also shown through the abdominal
soft-tissue window (level 40, width 400 HU), as LiteMedSAM's CT training images were prepared, instead of between
its 0.5th and 99.5th percentiles. The shipped code is not changed (docs/DEFAULT_MODEL.md: tried, not adopted).

Each run is scored by docs/hd95_parts.py (DSC, HD95 and its two sides, centerline and random points, seeds 0 and 1).

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/field_trials.py CASES.json MIN_FIELD_MM [CASE ...] [--ct-window]
  CASES.json: development cases, e.g. the crops of docs/fine_pixel_cases.py (runs/dev15/cases.json).
"""

import argparse

import numpy as np

import hd95_parts
from SPDSegmentLib.inference import predictor
from SPDSegmentLib.inference import slices

CT_AIR_HU = -500.0  # a volume with 0.5 % of its voxels below this is taken for CT
SOFT_TISSUE_WINDOW_HU = (-160.0, 240.0)  # level 40, width 400


def frame_with_minimum_field(min_field_mm: float) -> None:
    """Every ModelFrame from here on scales its slice as if it were at least ``min_field_mm`` wide."""

    def scaled_hw(frame) -> tuple[int, int]:
        extent_y = frame.height * frame.spacing_xy[1]
        extent_x = frame.width * frame.spacing_xy[0]
        scale = frame.size / max(extent_x, extent_y, min_field_mm)
        return (max(1, min(frame.size, int(round(extent_y * scale)))),
                max(1, min(frame.size, int(round(extent_x * scale)))))

    slices.ModelFrame.scaled_hw = property(scaled_hw)


def ct_through_soft_tissue_window() -> None:
    """Every predictor from here on shows a CT through the soft-tissue window, other volumes as shipped."""
    shipped = predictor.normalise_intensity
    low, high = SOFT_TISSUE_WINDOW_HU

    def normalise(array, low_percentile=0.5, high_percentile=99.5):
        values = np.asarray(array, np.float32)
        if float(np.percentile(values, 0.5)) > CT_AIR_HU:
            return shipped(values, low_percentile, high_percentile)
        return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)

    predictor.normalise_intensity = normalise


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases_file")
    parser.add_argument("min_field_mm", type=float)
    parser.add_argument("names", nargs="*")
    parser.add_argument("--ct-window", action="store_true", help="show a CT through the soft-tissue window")
    arguments = parser.parse_args()
    frame_with_minimum_field(arguments.min_field_mm)
    if arguments.ct_window:
        ct_through_soft_tissue_window()
    hd95_parts.main(arguments.cases_file, "default", "auto", *arguments.names)
