"""What the trials of the random clicks' route read from a run that SpdPredictor does not keep: the prompts as given
and the fitted boxes' half-size. After :func:`install`, a predictor's ``trial_prompts`` holds its last run's prompts
and ``fitted_half_mm["mm"]`` the last half-size its fitted boxes chose.

:func:`install` also turns off the limbs the prior fitted to the scan adds (:mod:`SPDSegmentLib.inference.scan_prior`,
adopted on 2026-12-05 after these trials): the trials were measured on the route without it, and
docs/scan_prior_trials.py puts its own variant of it in its place.
"""

import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.scan_prior import ScanLimbs

fitted_half_mm: dict[str, float] = {}
_predict = predictor_module.SpdPredictor.predict
_choose_half_size = predictor_module.choose_half_size


def predict_keeping_prompts(self, prompts, *args, **kwargs):
    self.trial_prompts = prompts
    return _predict(self, prompts, *args, **kwargs)


def choose_half_size_kept(*args, **kwargs):
    half_mm, scores = _choose_half_size(*args, **kwargs)
    fitted_half_mm["mm"] = half_mm
    return half_mm, scores


def no_scan_prior_limbs(masks, *_):
    return ScanLimbs(masks)


def install() -> None:
    predictor_module.SpdPredictor.predict = predict_keeping_prompts
    predictor_module.choose_half_size = choose_half_size_kept
    predictor_module.limbs_the_clicks_point_at = no_scan_prior_limbs
