"""Which runs of a study take the clicks' path of the continuity route (no model runs; it takes seconds).

On the continuity route, clicks that nothing competes with and that no curve traced
(``click_carrying.clicks_forming_a_structure_to_carry``, which the predictor asks, here with the default fitted
boxes' reach and cluster radius) choose their box size from the carried clicks' sizes and have their segment carried
to the slices they leave unclicked. This prints every run, of the
protocols and seeds of docs/make_results.sh, whose prompts are such clicks, and how many of all runs are.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/carried_clicks_runs.py CASES.json
  CASES.json: the cases file docs/make_results.sh writes (runs/results_core/test_cases.json), or a development one.
"""

import sys

from SPDSegmentLib.inference.box_fitting import BoxFitting
from SPDSegmentLib.inference.click_carrying import clicks_forming_a_structure_to_carry
from SPDSegmentLib.inference.slices import in_plane_spacing
from SPDSegmentLib.training.dataset import load_named_cases
from SPDSegmentLib.training.evaluate import case_prompts

PROTOCOLS = ("centerline", "noise", "random:2", "random:10")
SEEDS = (0, 1)


def main(cases_file: str) -> None:
    fitting = BoxFitting()
    runs = carried = 0
    for case in load_named_cases(cases_file, ()):
        cluster_px = fitting.cluster_mm / min(in_plane_spacing(case.volume, case.axis))
        for protocol in PROTOCOLS:
            for seed in SEEDS:
                prompts = case_prompts(case, protocol, seed)
                runs += 1
                if clicks_forming_a_structure_to_carry(prompts, fitting.gap_slices + 1, cluster_px):
                    carried += 1
                    print(f"{case.spec.name} {protocol} seed {seed}: clicks nothing competes with")
    print(f"{carried} of {runs} runs take the clicks' path")


if __name__ == "__main__":
    main(*sys.argv[1:])
