"""What the trials of the random clicks' route read from a run that SpdPredictor does not keep: the prompts as given
and the fitted boxes' half-size. After :func:`install`, a predictor's ``trial_prompts`` holds its last run's prompts
and ``fitted_half_mm["mm"]`` the last half-size its fitted boxes chose; the run itself is unchanged.
"""

import SPDSegmentLib.inference.predictor as predictor_module

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


def install() -> None:
    predictor_module.SpdPredictor.predict = predict_keeping_prompts
    predictor_module.choose_half_size = choose_half_size_kept
