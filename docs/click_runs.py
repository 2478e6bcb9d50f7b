"""Every clicks protocol of docs/sparse_clicks.py and docs/few_clicks.py, the default alone (``--prior auto``), one
line a run: which route it took, whether nothing competes with its clicks (``carried yes``: they are carried slice
by slice, past the clicked slices on the continuity route, as given on the raw route), on how many slices the
learned route segmented where the learned prior agreed (``agreed``), DSC and HD95. Frozen + boxes is not run (its
figures are those of the two scripts); trials run this script through their patches (docs/box_tissue_trials.py,
docs/box_peak_trials.py).

Protocols, seeds 0 and 1: a click every 4th and every 8th slice, spread, one-slice and close (three neighbouring
slices). With ``SKIP_AGREED_ON_CARRIED=1`` a run with ``carried yes`` and agreed slices runs a second time with the
learned route left out there, and its line adds that run's DSC and HD95.

Usage: [SKIP_AGREED_ON_CARRIED=1] PYTHONPATH=SPDSegment:docs .venv/bin/python docs/click_runs.py CASES.json [CASE ...]
"""

import os
import sys

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.click_carrying import clicks_forming_a_structure_to_carry
from SPDSegmentLib.inference.metrics import compute_dice, compute_hd95
from SPDSegmentLib.inference.model import build_model
from SPDSegmentLib.inference.options import InferenceOptions
from SPDSegmentLib.training.dataset import load_named_cases

from few_clicks import PROTOCOLS, few_clicks
from sparse_clicks import SEEDS, sparse_clicks

COMPARE_SKIPPED = os.environ.get("SKIP_AGREED_ON_CARRIED") == "1"
skipping = {"on": False}
learned_on_agreed_as_shipped = predictor_module.SpdPredictor._learned_on_agreed_slices


def learned_on_agreed_slices(self, masks, *args, **kwargs):
    return masks if skipping["on"] else learned_on_agreed_as_shipped(self, masks, *args, **kwargs)


def scored(predictor, clicks, reference, spacing) -> tuple:
    result = predictor.predict(clicks)
    mask = result.mask_kji.astype(bool)
    return result, compute_dice(mask, reference), compute_hd95(mask, reference, spacing) if mask.any() else float("nan")


def main(cases_file: str, *names: str) -> None:
    if COMPARE_SKIPPED:
        predictor_module.SpdPredictor._learned_on_agreed_slices = learned_on_agreed_slices
    predictor = predictor_module.SpdPredictor(build_model("default"), InferenceOptions(device="cpu"))
    for case in load_named_cases(cases_file, names):
        reference, spacing = case.mask_kji.astype(bool), case.volume.spacing_kji
        predictor.set_volume(case.volume, case.axis)
        runs = [(f"every{every} seed {seed}", sparse_clicks(reference, case.axis, every, seed))
                for every in (4, 8) for seed in SEEDS]
        runs += [(f"{protocol} seed {seed}", few_clicks(reference, case.axis, protocol, seed))
                 for protocol in PROTOCOLS for seed in SEEDS]
        for label, clicks in runs:
            carried = clicks_forming_a_structure_to_carry(clicks, *predictor._click_scale())
            result, dsc, hd95 = scored(predictor, clicks, reference, spacing)
            line = (f"{case.spec.name:30s} {label:16s} route {result.prior.route:10s} "
                    f"carried {'yes' if carried else 'no '} agreed {len(result.prior.agreed_slices):2d} "
                    f"DSC {dsc:.3f} HD95 {hd95:6.1f}")
            if COMPARE_SKIPPED and carried and result.prior.agreed_slices:
                skipping["on"] = True
                try:
                    _, dsc, hd95 = scored(predictor, clicks, reference, spacing)
                finally:
                    skipping["on"] = False
                line += f" | agreed slices left out: DSC {dsc:.3f} HD95 {hd95:6.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
