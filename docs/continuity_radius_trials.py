"""Trial (not adopted): the continuity prior's radius taken from the structure the fitted boxes found.

Each run of docs/hd95_parts.py runs as shipped (sigma = 10 mm, closeness 1/2 at 11.8 mm); where the fitted masks'
median inscribed radius (over the segmented slices, the largest distance from a mask pixel to its edge) exceeds
``MIN_GAIN`` x 11.8 mm, the run is repeated with sigma set so that closeness is 1/2 at that radius, on every
continuity check (the nearest slices, the wider window and the other cross-sections). The run's line is then the
repeated one's; the lines before it print the radius, the sigma, and the repeated run's radius.

Usage: [MIN_GAIN=1.2] PYTHONPATH=SPDSegment .venv/bin/python docs/continuity_radius_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
"""

import functools
import os

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference import continuity_prior, predictor as predictor_module
from SPDSegmentLib.inference.continuity_prior import DEFAULT_SIGMA_MM

from predictor_trials import run_given_script

MIN_GAIN = float(os.environ.get("MIN_GAIN", "1.2"))
radii: list[float] = []
shipped_in_predictor, shipped_in_prior = predictor_module.continuity_saliency, continuity_prior.continuity_saliency
fitted_as_shipped = predictor_module.SpdPredictor._fitted_boxes
predict_as_shipped = predictor_module.SpdPredictor.predict


def fitted_boxes(self, consensus, progress, cancel, *learned_and_tau):
    fitted = fitted_as_shipped(self, consensus, progress, cancel, *learned_and_tau)
    masks = fitted[0]
    spacing_x, spacing_y = self._frame.spacing_xy
    inscribed = [ndimage.distance_transform_edt(mask, sampling=(spacing_y, spacing_x)).max()
                 for mask in masks if mask.any()]
    radii.append(float(np.median(inscribed)) if inscribed else 0.0)
    return fitted


def use_sigma(sigma_mm: float) -> None:
    predictor_module.continuity_saliency = functools.partial(shipped_in_predictor, sigma_mm=sigma_mm)
    continuity_prior.continuity_saliency = functools.partial(shipped_in_prior, sigma_mm=sigma_mm)


def predict(self, prompts, *args, **kwargs):
    radii.clear()
    use_sigma(DEFAULT_SIGMA_MM)
    result = predict_as_shipped(self, prompts, *args, **kwargs)
    if radii:
        sigma = radii[0] / np.sqrt(2 * np.log(2))
        print(f"   radius {radii[0]:.1f} mm -> sigma {sigma:.1f}", flush=True)
        if sigma > DEFAULT_SIGMA_MM * MIN_GAIN:
            use_sigma(sigma)
            result = predict_as_shipped(self, prompts, *args, **kwargs)
            use_sigma(DEFAULT_SIGMA_MM)
            print(f"   rerun radius {radii[-1]:.1f} mm", flush=True)
    return result


predictor_module.SpdPredictor._fitted_boxes = fitted_boxes
predictor_module.SpdPredictor.predict = predict
run_given_script()
