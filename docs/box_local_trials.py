"""Trial: the fitted boxes' size chosen along the structure, not once for it.

The shipped choice (:func:`SPDSegmentLib.inference.box_fitting.choose_half_size`) takes one half-size for the whole
structure, from the decoder's mean predicted IoU over 8 clusters spread along it. A structure whose calibre changes
along the slices (the colon from the sigmoid to the caecum, the aorta from the arch to the bifurcation, a terminal
ileum entering the caecum) then gets one box size everywhere. Here ``SAMPLE`` clusters spread along the structure
are decoded at every size, and each slice takes the size the ``WINDOW`` sampled clusters nearest to it (by slice)
choose, by the same rule (the smallest size within the tolerance of the best mean). The clusters and the rejected
prompts that growth decodes get their slice's size; gaps are filled from the masks, as shipped.

Usage: SAMPLE=24 WINDOW=8 PYTHONPATH=SPDSegment .venv/bin/python docs/box_local_trials.py docs/hd95_parts.py \
    CASES.json default auto CASE ...
  (or docs/sparse_clicks.py and its arguments); prints each run's sizes along the slices before its line.
"""

import os
from dataclasses import replace

import numpy as np

from SPDSegmentLib.inference import predictor as predictor_module
from SPDSegmentLib.inference.box_fitting import box_around, size_sample, smallest_near_best

from predictor_trials import run_given_script

SAMPLE = int(os.environ.get("SAMPLE", "24"))
WINDOW = int(os.environ.get("WINDOW", "8"))
decode_candidates_as_shipped = predictor_module.decode_candidates
grow_as_shipped = predictor_module.grow_by_overlap
local = {}


def choose_half_size(candidates, decode, spacing_mm, fitting):
    pick = size_sample(candidates, replace(fitting, sample=SAMPLE))
    slices = np.array([candidates[i].slice_index for i in pick])
    sizes = np.array(fitting.half_sizes_mm)
    ious = np.stack([decode(slices, np.array([box_around(candidates[i].points_xy, h / spacing_mm) for i in pick]))[1]
                     for h in sizes], axis=1)

    def size_at(t):
        nearest = np.argsort(np.abs(slices - t), kind="stable")[:WINDOW]
        return smallest_near_best(dict(zip(sizes.tolist(), ious[nearest].mean(axis=0).tolist())), fitting.tolerance)

    local["size_at"], local["spacing"] = size_at, spacing_mm
    scores = dict(zip(sizes.tolist(), ious.mean(axis=0).tolist()))
    half_mm = smallest_near_best(scores, fitting.tolerance)
    span = range(int(slices.min()), int(slices.max()) + 1)
    print(f"   sizes along the slices {slices.min()}-{slices.max()}: "
          f"{' '.join(f'{size_at(t):.0f}' for t in span[::max(1, len(span) // 20)])} (one size: {half_mm:.0f})",
          flush=True)
    return half_mm, scores


def resized(decode, half_px):
    """``decode`` with each box regrown from ``half_px`` to the half-size its slice takes."""
    def decode_local(slices, boxes):
        grow = np.array([local["size_at"](t) / local["spacing"] - half_px for t in slices])
        return decode(slices, np.asarray(boxes, float) + grow[:, None] * np.array([-1, -1, 1, 1]))
    return decode_local


def decode_candidates(candidates, decode, half_px, stack_shape):
    return decode_candidates_as_shipped(candidates, resized(decode, half_px), half_px, stack_shape)


def grow_by_overlap(masks, candidates, decode, half_px, fitting):
    return grow_as_shipped(masks, candidates, resized(decode, half_px), half_px, fitting)


predictor_module.choose_half_size = choose_half_size
predictor_module.decode_candidates = decode_candidates
predictor_module.grow_by_overlap = grow_by_overlap
run_given_script()
