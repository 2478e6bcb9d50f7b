"""What the docs/*_trials.py scripts share: each patches the predictor module in its own process, then runs the
script named first on its command line (docs/hd95_parts.py, docs/sparse_clicks.py, ...) with the arguments after
it, so that script's runs go through the patched code; ``-m MODULE`` runs a module instead (``-m
SPDSegmentLib.tools.demo --out DIR``: the demo). Nothing outside that process changes.
"""

import runpy
import sys

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import mask_box


def run_given_script() -> None:
    """Run ``sys.argv[1]`` (or the module after ``-m``) as ``__main__`` with the arguments after it."""
    if sys.argv[1:2] == ["-m"]:
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


def recorded_prior_choice() -> dict:
    """Patch the predictor module's ``choose_prior`` so that each run's choice (with its agreement) is kept under
    ``"choice"`` in the returned dict, for a patched step later in the same run to read."""
    current = {}
    choose_as_shipped = predictor_module.choose_prior

    def choose_prior(*args, **kwargs):
        current["choice"] = choose_as_shipped(*args, **kwargs)
        return current["choice"]

    predictor_module.choose_prior = choose_prior
    return current


def outline_from_fitted_boxes(predictor, masks, prompts, progress, cancel):
    """The tuned decoder's outline as ``predictor_module.outline_within`` draws it, the decoder given on every
    segmented slice the box of the fitted mask itself (grown by the fitting's ``pad_px``) instead of the continuity
    map's boxes; returns what ``_tuned_outline`` returns."""
    segmented = np.flatnonzero(masks.reshape(len(masks), -1).any(axis=1))
    negatives = prompts.select(~prompts.positive)
    pad = predictor.box_fitting.pad_px
    requests = [(int(t), xy, np.zeros(len(xy)), mask_box(masks[t], pad))
                for t, xy in zip(segmented, (negatives.on_slice(int(t)) for t in segmented))]
    tuned = predictor._union(requests, predictor._decode(requests, None, progress, cancel)[0])
    return predictor_module.outline_within(masks, tuned)


def box_sides_reached(region: np.ndarray, box: np.ndarray, min_contact_px: int = 1,
                      max_share: float | None = None) -> list[int]:
    """The sides (0 left, 1 top, 2 right, 3 bottom) of ``box`` (x0, y0, x1, y1) that the 2D ``region`` reaches with at
    least ``min_contact_px`` pixels (within 1.5 pixels of the side or past it) and, with ``max_share``, along at most
    that share of the side's length. A side at the image's edge does not count: nothing lies past it."""
    height, width = region.shape
    x0, y0, x1, y1 = box
    ys, xs = np.nonzero(region)
    if len(xs) == 0:
        return []
    sides = [(x0 > 0, xs <= x0 + 1.5, ys, y1 - y0), (y0 > 0, ys <= y0 + 1.5, xs, x1 - x0),
             (x1 < width - 1, xs >= x1 - 1.5, ys, y1 - y0), (y1 < height - 1, ys >= y1 - 1.5, xs, x1 - x0)]
    return [side for side, (inside_image, touching, along, length) in enumerate(sides)
            if inside_image and touching.sum() >= min_contact_px
            and (max_share is None or len(np.unique(along[touching])) <= max_share * length)]
