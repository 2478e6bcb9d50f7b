"""A few clicks on a structure, as a clinician places them on an organ: the default (``--prior auto``) against frozen +
boxes on the same clicks, on cases of the development CT (never on the held-out cases of docs/RESULTS.md).

Protocols, each with seeds 0 and 1 (the seed draws where on a slice a click lands):

- ``spread``: one click on each of three slices, at a quarter, half and three quarters of the structure's extent;
- ``one-slice``: two clicks on the structure's middle slice;
- ``close``: one click on each of three slices near the structure's middle, 3 slices apart (a lesion or organ
  clicked on a few neighbouring slices).

Every click is drawn from the pixels at least half as deep inside the structure as its deepest pixel on that slice.

Usage: PYTHONPATH=SPDSegment .venv/bin/python docs/few_clicks.py [--protocols P[,P...]] CASES.json [CASE ...]
  --protocols: which protocols to run (default: spread,one-slice).
(prints as docs/sparse_clicks.py does, whose comparison it runs)
"""

import argparse

import numpy as np
from scipy import ndimage

from SPDSegmentLib.inference.prompts import Prompts
from SPDSegmentLib.inference.slices import to_stack
from sparse_clicks import SEEDS, compare

PROTOCOLS = ("spread", "one-slice", "close")
DEFAULT_PROTOCOLS = ("spread", "one-slice")


def few_clicks(mask_kji: np.ndarray, axis: int, protocol: str, seed: int) -> Prompts:
    """The clicks of ``protocol`` on the structure ``mask_kji`` (see the module docstring)."""
    stack = to_stack(mask_kji.astype(bool), axis)
    slices = np.flatnonzero(stack.any(axis=(1, 2)))
    if protocol == "spread":
        chosen = [(int(slices[int(round(q * (len(slices) - 1)))]), 1) for q in (0.25, 0.5, 0.75)]
    elif protocol == "one-slice":
        chosen = [(int(slices[len(slices) // 2]), 2)]
    elif protocol == "close":
        middle = len(slices) // 2
        chosen = [(int(slices[min(max(middle + step, 0), len(slices) - 1)]), 1) for step in (-3, 0, 3)]
    else:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    rng = np.random.default_rng(seed)
    rows = []
    for t, count in chosen:
        depth = ndimage.distance_transform_edt(stack[t])
        ys, xs = np.nonzero(depth >= 0.5 * depth.max())
        rows += [(t, xs[pick], ys[pick]) for pick in rng.integers(len(xs), size=count)]
    return Prompts(np.array([r[0] for r in rows]), np.array([r[1:] for r in rows], float), np.ones(len(rows), bool))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocols", default=",".join(DEFAULT_PROTOCOLS))
    parser.add_argument("cases_file")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    protocols = args.protocols.split(",")
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            parser.error(f"--protocols: each must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    compare(args.cases_file, args.names, lambda reference, axis: [(f"{protocol:9s} seed {seed}",
                                                                   few_clicks(reference, axis, protocol, seed))
                                                                  for protocol in protocols for seed in SEEDS])


if __name__ == "__main__":
    main()
