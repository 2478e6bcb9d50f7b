"""Render Resources/Screenshot01.png headless from a real MRML scene (slicer-core).

A generated MR-enterography-like sample, a simulated clinician centerline, ``segment_nodes`` with the
given model, then Slicer's own slice logic renders the input, the saliency heat map (foreground) and
the segment outline on three slices.

    .venv/bin/python -m SPDSegmentLib.tools.screenshot --model ADAPTER.safetensors --out Resources/Screenshot01.png
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--tau", type=float, help="saliency threshold (default: the model's)")
    parser.add_argument("--prompt-mode", choices=["points", "boxes"], help="default: the model's")
    parser.add_argument("--out", type=Path, default=Path("Resources/Screenshot01.png"))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from SPDSegmentLib.tools.headless_scene import HeadlessSlicer
    from SPDSegmentLib.tools.render import render_slice
    from SPDSegmentLib.inference.metrics import compute_dice
    from SPDSegmentLib.inference.model import model_has_saliency
    from SPDSegmentLib.training.simulate import simulate_clinician_centerline
    from SPDSegmentLib.training.synthetic import generate_case
    from SPDSegmentLib.bridge.segmentation import segment_array
    from SPDSegmentLib.inference.options import InferenceOptions
    from SPDSegmentLib.logic import SegmentNodes, segment_nodes

    case = generate_case(args.seed)
    app = HeadlessSlicer()
    volume_node = app.add_volume(case.volume, "MRE sample")
    volume_node.CreateDefaultDisplayNodes()
    curve_lps = simulate_clinician_centerline(case.label_kji, case.volume, 2, args.seed,
                                              neighbour_kji=case.neighbours_kji)
    curve = app.add_curve(curve_lps, "TI centerline")
    segmentation = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "SPD")
    segmentation.CreateDefaultDisplayNodes()
    saliency = app.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "SPD saliency") \
        if model_has_saliency(args.model) else None
    audit = app.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "SPD prompt audit")
    nodes = SegmentNodes(volume_node, segmentation, curve=curve, saliency=saliency, audit=audit,
                         segment_name="terminal ileum")
    result = segment_nodes(nodes, args.model, InferenceOptions(device="cpu", tau=args.tau, prompt_mode=args.prompt_mode))
    mask = segment_array(segmentation, result.segment_id, volume_node)

    slices = np.flatnonzero(case.label_kji.any(axis=(1, 2)))
    chosen = slices[np.linspace(0, len(slices) - 1, 3).round().astype(int)]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ case.volume.ijk_to_lps
    if saliency is not None and args.tau is not None:
        from SPDSegmentLib.bridge.overlay import fill_saliency_display

        fill_saliency_display(saliency, threshold=args.tau)
    panels = [render_slice(volume_node, None, saliency, segmentation, result.segment_id,
                           slice_offset=float((ras @ [0, 0, k, 1])[2]), size=360) for k in chosen]
    figure, axes = plt.subplots(1, 3, figsize=(10.8, 3.9))
    for ax, k, panel in zip(axes, chosen, panels):
        ax.imshow(panel[..., :3])
        ax.set_title(f"slice {k}", fontsize=9)
        ax.axis("off")
    figure.suptitle(f"SPDSegment in a headless MRML scene (slicer-core): saliency heat map and segment outline; "
                    f"model {Path(args.model).name}, tau {args.tau if args.tau is not None else 'default'}",
                    fontsize=9)
    figure.tight_layout()
    figure.savefig(args.out, dpi=100)
    print(json.dumps({"out": str(args.out), "model": args.model, "dsc": round(compute_dice(mask, case.label_kji), 4),
                      "slices": result.slices_processed, "kept": result.prompts_kept,
                      "rejected": result.prompts_rejected, "seconds": round(result.seconds, 1), "tau": args.tau}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
