"""Which runs of two accuracy studies differ: for each method, how many runs (case, protocol, seed) changed their
DSC, and the mean DSC and HD95 of the real and the generated cases in each.

Usage: .venv/bin/python docs/compare_studies.py BEFORE.json AFTER.json
  the evaluation.json files that docs/make_results.sh writes into its output folder (runs/ is not kept in git: copy
  the previous one aside before rerunning the study).
"""

import json
import sys

import numpy as np


def runs(path: str) -> dict:
    rows = json.loads(open(path, encoding="utf-8").read())["rows"]
    return {(row["method"], row["case"], row["protocol"], row["seed"]): row for row in rows}


def summary(rows: list[dict]) -> str:
    dsc = 100 * np.mean([row["dsc"] for row in rows])
    hd95 = [row["hd95_mm"] for row in rows if row["hd95_mm"] is not None]
    return f"DSC {dsc:.1f}, HD95 {np.mean(hd95):.1f} mm" if hd95 else f"DSC {dsc:.1f}"


def main(before_path: str, after_path: str) -> None:
    before, after = runs(before_path), runs(after_path)
    shared = sorted(set(before) & set(after))
    for method in sorted({key[0] for key in shared}):
        keys = [key for key in shared if key[0] == method]
        changed = [key for key in keys if abs(before[key]["dsc"] - after[key]["dsc"]) > 1e-9]
        print(f"{method}: {len(changed)} of {len(keys)} runs changed their DSC")
        for kind, prefix in (("real", "real-"), ("generated", "synthetic-")):
            group = [key for key in keys if key[1].startswith(prefix)]
            print(f"  {kind}: before {summary([before[k] for k in group])}; after {summary([after[k] for k in group])}")
        for key in changed:
            print(f"    {key[1]} {key[2]} seed {key[3]}: DSC {100 * before[key]['dsc']:.1f} -> "
                  f"{100 * after[key]['dsc']:.1f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
