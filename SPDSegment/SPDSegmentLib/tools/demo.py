"""``make demo``: generate a sample, segment it from its noisy centerline, show and measure the result.

Writes into ``--out``: the sample (image, truth, clinician-like curve), the segmentation (.seg.nrrd),
the saliency map the prompts were checked against, the prompt audit (.mrk.json) and a PNG montage; prints
DSC and HD95 against the truth, the prior that checked the prompts and the seconds it took.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from ..cli import main as cli_main
from ..inference.io import read_volume, write_volume
from ..inference.markup_files import read_markups, write_markups
from ..inference.metrics import compute_dice, compute_hd95
from ..training.simulate import simulate_clinician_centerline
from ..training.synthetic import generate_case

STATUS_COLOURS = {"kept-local": "lime", "kept-neighbour": "yellow", "joined": "mediumpurple", "rejected": "red",
                  "left-out": "magenta", "saliency-argmax": "cyan"}


def write_montage(path: Path, image_kji, truth_kji, mask_kji, saliency_kji, audit, volume, n_panels: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slices = np.flatnonzero(truth_kji.any(axis=(1, 2)) | mask_kji.any(axis=(1, 2)))
    chosen = slices[np.linspace(0, len(slices) - 1, min(n_panels, len(slices))).round().astype(int)]
    points_ijk = volume.lps_to_ijk(audit.points_lps) if len(audit.points_lps) else np.zeros((0, 3))
    figure, axes = plt.subplots(1, len(chosen), figsize=(3.2 * len(chosen), 3.6), squeeze=False)
    for ax, k in zip(axes[0], chosen):
        ax.imshow(image_kji[k], cmap="gray")
        if saliency_kji is not None:
            ax.imshow(np.ma.masked_less(saliency_kji[k], 0.1), cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        ax.contour(truth_kji[k], levels=[0.5], colors="deepskyblue", linewidths=0.8, linestyles="dashed")
        if mask_kji[k].any():
            ax.contour(mask_kji[k], levels=[0.5], colors="orange", linewidths=1.2)
        on_slice = np.rint(points_ijk[:, 2]).astype(int) == k
        for status, colour in STATUS_COLOURS.items():
            pick = on_slice & (np.array(audit.labels) == status)
            ax.scatter(points_ijk[pick, 0], points_ijk[pick, 1], s=14, c=colour, edgecolors="black", linewidths=0.4,
                       label=status)
        ax.set_title(f"slice {k}", fontsize=9)
        ax.axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.suptitle("SPDSegment: saliency (heat), SPD mask (orange), truth (blue dashed), prompts", fontsize=10)
    figure.tight_layout(rect=(0, 0.06, 1, 0.95))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(out: Path, seed: int = 2026, model: str = "default") -> dict:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    started = time.perf_counter()
    case = generate_case(seed)
    write_volume(out / "sample_image.nii.gz", case.volume.array_kji, case.volume)
    write_volume(out / "sample_truth.nii.gz", case.label_kji.astype(np.uint8), case.volume)
    curve = simulate_clinician_centerline(case.label_kji, case.volume, 2, seed, neighbour_kji=case.neighbours_kji)
    write_markups(out / "sample_centerline.mrk.json", "Curve", curve, name="TI centerline (simulated clinician)")

    args = ["segment", str(out / "sample_image.nii.gz"), "--curve", str(out / "sample_centerline.mrk.json"),
            "--model", model, "--output", str(out / "segmentation.seg.nrrd"), "--consensus",
            str(out / "prompt_audit.mrk.json"), "--segment-name", "terminal ileum", "--quiet", "--device", "cpu",
            "--saliency", str(out / "saliency.nii.gz")]
    if cli_main(args) != 0:
        raise SystemExit("Segmentation failed; see the message above.")
    seconds = time.perf_counter() - started

    import slicerio

    segmentation = slicerio.read_segmentation(str(out / "segmentation.seg.nrrd"))
    mask_kji = np.transpose(slicerio.segment_mask(segmentation, "terminal ileum"), (2, 1, 0))
    saliency = read_volume(out / "saliency.nii.gz").array_kji
    audit = read_markups(out / "prompt_audit.mrk.json")[0]
    write_montage(out / "montage.png", case.volume.array_kji, case.label_kji, mask_kji, saliency, audit, case.volume)
    spacing_kji = case.volume.spacing_kji
    prior = audit.name.partition("(")[2].rstrip(")") or "unknown"
    figures = {"dsc": round(compute_dice(mask_kji, case.label_kji), 4), "prior": prior,
               "hd95_mm": round(compute_hd95(mask_kji, case.label_kji, spacing_kji), 2),
               "seconds": round(seconds, 1), "model": model, "outputs": str(out)}
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo_output", type=Path)
    parser.add_argument("--seed", default=2026, type=int)
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)
    figures = run(args.out, args.seed, args.model)
    print(f"SPDSegment demo: DSC {figures['dsc']:.3f}, HD95 {figures['hd95_mm']:.1f} mm, "
          f"{figures['seconds']:.1f} s on CPU with model '{figures['model']}' ({figures['prior']}); files in "
          f"{figures['outputs']}/")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
