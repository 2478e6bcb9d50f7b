"""Trial (not adopted, docs/DEFAULT_MODEL.md): cap the fitted boxes' size by the structure's radius measured in
the image (scale-space blob size).

The shipped choice (:func:`SPDSegmentLib.inference.box_fitting.choose_half_size`) takes the smallest half-size
whose mean predicted IoU is within 0.05 of the best. Where the predicted IoU is flat over the sizes it can pick a
box far wider than the structure (36 mm around the CT's 12 mm left iliac vein). Here the radius of the structure at
each sampled cluster is measured the classical way, from the scale-normalised Laplacian of Gaussian at the
cluster's centre: radius = sqrt(2) sigma at its first local maximum over the scales (at larger scales the
surroundings take over). Sizes over ``CAP`` times the sample's median radius are left out of the choice (never
the smallest size).

Usage: CAP=2 PYTHONPATH=SPDSegment .venv/bin/python docs/box_scale_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
  (or docs/sparse_clicks.py and its arguments); prints each run's radius, cap and size before its line.
"""

import os
from dataclasses import replace

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import size_sample

from predictor_trials import run_given_script

CAP = float(os.environ.get("CAP", "2"))
RADII_MM = np.geomspace(3.0, 80.0, 15)
choose_as_shipped = predictor_module.choose_half_size
fitted_as_shipped = predictor_module.SpdPredictor._fitted_boxes
current = {}


def fitted_boxes(self, consensus, progress, cancel, *learned_and_tau):
    current["predictor"] = self
    return fitted_as_shipped(self, consensus, progress, cancel, *learned_and_tau)


def blob_radius_mm(image: np.ndarray, point_xy: np.ndarray, spacing_xy: tuple[float, float]) -> float:
    x, y = (int(round(v)) for v in point_xy)
    responses = []
    for radius in RADII_MM:
        sigma_mm = radius / np.sqrt(2.0)
        sigma_px = (sigma_mm / spacing_xy[1], sigma_mm / spacing_xy[0])
        response = ndimage.gaussian_laplace(image, sigma_px, mode="nearest")[y, x]
        responses.append(abs(sigma_mm ** 2 * response))
    responses = np.array(responses)
    # the first local maximum over the scales: at larger scales the body's outline and the organs around the
    # structure take over the response
    peaks = [s for s in range(1, len(responses) - 1)
             if responses[s] >= responses[s - 1] and responses[s] > responses[s + 1]]
    return float(RADII_MM[peaks[0]] if peaks else RADII_MM[int(np.argmax(responses))])


def choose_half_size(candidates, decode, spacing_mm, fitting):
    predictor = current["predictor"]
    pick = size_sample(candidates, fitting)
    spacing_xy = tuple(float(s) for s in predictor._frame.spacing_xy)
    radii = [blob_radius_mm(predictor._stack[candidates[i].slice_index].astype(np.float32),
                            candidates[i].points_xy.mean(axis=0), spacing_xy) for i in pick]
    radius = float(np.median(radii))
    sizes = fitting.half_sizes_mm
    allowed = tuple(size for size in sizes if size <= CAP * radius) or sizes[:1]
    shipped_mm, _ = choose_as_shipped(candidates, decode, spacing_mm, fitting)
    half_mm, scores = choose_as_shipped(candidates, decode, spacing_mm, replace(fitting, half_sizes_mm=allowed))
    print(f"   radius {radius:.1f} mm (sample {', '.join(f'{r:.0f}' for r in radii)}), cap {CAP * radius:.0f} mm: "
          f"{half_mm:.0f} mm (shipped {shipped_mm:.0f})", flush=True)
    return half_mm, scores


predictor_module.SpdPredictor._fitted_boxes = fitted_boxes
predictor_module.choose_half_size = choose_half_size
run_given_script()
