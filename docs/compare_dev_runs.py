"""Two sets of development runs side by side: the run lines docs/hd95_parts.py (or a trial wrapping it) printed,
matched by case, protocol and seed; prints the runs whose DSC or HD95 changed, then per group (CT, generated) how
many changed, how many gained or lost DSC, and the mean DSC and HD95 of both sets over the runs they share.

Usage: python docs/compare_dev_runs.py BEFORE.log[,BEFORE2.log ...] AFTER.log[,AFTER2.log ...]
"""

import re
import statistics
import sys

RUN_LINE = re.compile(r"(\S+)\s+(centerline|noise)\s+seed (\d).*DSC ([\d.]+) HD95\s+([\d.]+)")
GROUPS = (("CT", "dev-ct"), ("generated", "synthetic"))


def read_runs(paths: str) -> dict[tuple[str, str, str], tuple[float, float]]:
    runs = {}
    for path in paths.split(","):
        with open(path, encoding="utf-8") as log:
            for match in filter(None, map(RUN_LINE.match, log)):
                runs[match[1], match[2], match[3]] = (float(match[4]), float(match[5]))
    return runs


def main(before_paths: str, after_paths: str) -> None:
    before, after = read_runs(before_paths), read_runs(after_paths)
    shared = [key for key in after if key in before]
    for key in shared:
        if before[key] != after[key]:
            (dsc_before, hd95_before), (dsc_after, hd95_after) = before[key], after[key]
            print(*key, f"DSC {dsc_before:.3f} -> {dsc_after:.3f}, HD95 {hd95_before:.1f} -> {hd95_after:.1f}")
    for group, prefix in GROUPS:
        keys = [key for key in shared if key[0].startswith(prefix)]
        if keys:
            def mean(runs, figure):
                return statistics.mean(runs[k][figure] for k in keys)
            print(f"{group}: {len(keys)} runs, {sum(before[k] != after[k] for k in keys)} changed, "
                  f"{sum(after[k][0] > before[k][0] for k in keys)} better, "
                  f"{sum(after[k][0] < before[k][0] for k in keys)} worse; mean DSC {mean(before, 0):.3f} -> "
                  f"{mean(after, 0):.3f}, HD95 {mean(before, 1):.1f} -> {mean(after, 1):.1f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
