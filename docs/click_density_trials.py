"""Trial: the other limbs of a randomly clicked structure joined where the clicks lie denser than stray clicks do.

Clicked at random (1 true + k random points a slice), the true click of a slice falls on the target, so a limb of
the target holds clicks far more densely, per pixel of its cross-sections over the slices, than any other tissue,
which holds only the stray clicks' share of its area: fat or muscle spanning the whole volume holds stray clicks on as
many slices as a limb holds true ones, but over a far larger area. Here every positive click outside the segment
seeds a limb as the engine's scan prior does (SPDSegmentLib.inference.scan_prior.limbs_the_clicks_point_at, with its
probe gate at THETA and, with LADDER=1, the seeds decoded on docs/limb_ladder_trials.py's ladder of box sizes), and a
carried limb joins the segment where the slices whose clicks lie in it are more than chance allows: with lambda the
clicks outside the segment per pixel outside it (over the kept prompts' slices) and V the limb's pixels on the slices
that count (with EXCLUSIVE=1 those on which the segment holds no click), it joins when the Poisson probability of at
least that many clicking slices, P(X >= n | lambda V), is under ALPHA, and n >= 2.

Usage: [THETA=0.5 CAP=3 LADDER=0 ALPHA=0.001 EXCLUSIVE=1] [PROTOCOLS=noise] PYTHONPATH=SPDSegment:docs
       .venv/bin/python docs/click_density_trials.py CASES.json [MODEL] [PRIOR] [CASE ...]
       (the arguments of docs/hd95_parts.py, whose run lines it prints, each after lines giving why seeds were
       refused, how many clicks outside the segment lie in the label and in a carried limb, and each carried limb:
       pixels counted V, clicking slices n, expected lambda V, the probability, its share in the label; * joined)
"""

import os
import sys

import numpy as np
from scipy import ndimage
from scipy.stats import poisson

import SPDSegmentLib.inference.predictor as predictor_module
from SPDSegmentLib.inference.cpd import nearest_pixels
from SPDSegmentLib.inference.scan_prior import LARGEST_LIMB_SEED, PROBE_SCORE, LimbRules, limbs_the_clicks_point_at

import hd95_parts  # docs/, the script's own folder
import limb_ladder_trials
import scan_prior_trials

RULES = LimbRules(probe_score=float(os.environ.get("THETA", PROBE_SCORE)),
                  largest_seed=float(os.environ.get("CAP", LARGEST_LIMB_SEED)), confirmations=10 ** 9,
                  exclusive=os.environ.get("EXCLUSIVE", "1") == "1")
LADDER = os.environ.get("LADDER", "0") == "1"
ALPHA = float(os.environ.get("ALPHA", "0.001"))


def limbs_by_click_density(masks, scores, image, decode, clicks, half_px, lower, upper, settings, *_):
    seeds_decode = limb_ladder_trials.seeds_on_a_ladder(decode) if LADDER else decode
    found = limbs_the_clicks_point_at(masks, scores, image, seeds_decode, clicks, half_px, lower, upper, settings,
                                      RULES)
    if found.limbs is None:
        scan_prior_trials.print_found(found, scores, RULES.probe_score)
        return found
    columns, rows = nearest_pixels(clicks.xy, *masks.shape[1:])
    t_all = clicks.slice_index.astype(int)
    within = (t_all >= lower) & (t_all <= upper)
    inside = masks[t_all, rows, columns]
    span = masks[lower:upper + 1]
    rate = (within & ~inside).sum() / max(1, (~span).sum())
    held = set(t_all[inside].tolist())
    counted = np.ones(len(masks), bool)
    if RULES.exclusive:
        counted[list(held)] = False
    truth = scan_prior_trials.reference.get("stack")
    lines = []
    for label, box in enumerate(ndimage.find_objects(found.limbs), 1):
        if box is None:
            continue
        limb = found.limbs == label
        volume = int((limb & counted[:, None, None]).sum())
        n = len(found.confirming.get(label, ()))
        p = float(poisson.sf(n - 1, rate * volume)) if n else 1.0
        if n >= 2 and p < ALPHA:
            found.joined_labels.append(label)
        share = "-" if truth is None else f"{(truth & limb).sum() / limb.sum():.2f}"
        lines.append(f"{'*' if label in found.joined_labels else ''}{volume}/{n}/{rate * volume:.2f}/{p:.1e}/{share}")
    if found.refused:
        print("  regions refused as seeds: " + ", ".join(f"{why} {count}" for why, count in found.refused.items()),
              flush=True)
    if truth is not None:
        on_label = truth[t_all, rows, columns] & within & ~inside
        print(f"  clicks outside the segment: {int((within & ~inside).sum())}, in the label {int(on_label.sum())}, "
              f"in a carried limb {int((found.limbs[t_all, rows, columns] > 0)[on_label].sum())}", flush=True)
    print(f"  limbs (pixels counted, clicking slices, expected, P, share in label; * joined), {rate * 1e4:.2f} "
          f"clicks per 10^4 px: " + ", ".join(lines), flush=True)
    if found.joined_labels:
        added = np.isin(found.limbs, found.joined_labels)
        was_empty = ~masks.reshape(len(masks), -1).any(axis=1)
        found.masks = masks | added
        found.gained = [int(t) for t in np.flatnonzero(added.reshape(len(added), -1).any(axis=1) & was_empty)]
    return found


if __name__ == "__main__":
    predictor_module.limbs_the_clicks_point_at = limbs_by_click_density
    hd95_parts.load_named_cases = scan_prior_trials.cases_kept_as_reference
    hd95_parts.main(*sys.argv[1:])
