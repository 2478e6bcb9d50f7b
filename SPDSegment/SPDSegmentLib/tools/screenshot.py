"""Render Resources/Screenshot01.png headless from a real MRML scene (slicer-core) on a real scan.

The scan and a label of it are read, a clinician-like centerline is simulated on the label (a quarter of it
drifting off the structure, gaps, jitter), ``segment_nodes`` runs with the given model into a headless
scene, and Slicer's own slice logic renders three slices: the input, the saliency the prompts were checked
against (heat map), the segment outline and the prompt audit (kept green, borrowed yellow, rejected red, and as the
segment settled them, joined purple and left out magenta); the title names the statuses the three slices show.

    .venv/bin/python -m SPDSegmentLib.tools.screenshot --image IMAGE --label LABELS --label-value 15 \\
        --out Resources/Screenshot01.png
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

STATUS_COLOURS = {"kept-local": (60, 220, 60), "kept-neighbour": (250, 220, 40), "joined": (150, 110, 255),
                  "rejected": (235, 40, 40), "left-out": (235, 60, 235), "saliency-argmax": (40, 220, 235)}
STATUS_LEGEND = {"kept-local": "kept (green)", "kept-neighbour": "borrowed (yellow)", "joined": "joined (purple)",
                 "rejected": "rejected (red)", "left-out": "left out (magenta)", "saliency-argmax": "argmax (cyan)"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, type=Path, help="the scan (NIfTI or NRRD)")
    parser.add_argument("--label", required=True, type=Path, help="its label image")
    parser.add_argument("--label-value", type=int, default=1)
    parser.add_argument("--structure", default="colon", help="what the label value is, for the titles")
    parser.add_argument("--credit", default="", help="where the scan comes from, printed under the picture")
    parser.add_argument("--model", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("Resources/Screenshot01.png"))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from SPDSegmentLib.bridge.overlay import fill_saliency_display
    from SPDSegmentLib.bridge.segmentation import segment_array
    from SPDSegmentLib.inference.io import read_label_mask, read_volume
    from SPDSegmentLib.inference.metrics import compute_dice
    from SPDSegmentLib.inference.options import InferenceOptions
    from SPDSegmentLib.logic import SegmentNodes, segment_nodes
    from SPDSegmentLib.tools.headless_scene import HeadlessSlicer
    from SPDSegmentLib.tools.render import render_slice
    from SPDSegmentLib.training.simulate import simulate_clinician_centerline

    volume = read_volume(args.image)
    truth = read_label_mask(args.label, args.label_value, volume)
    axis = volume.slicing_axis("auto")
    app = HeadlessSlicer()
    volume_node = app.add_volume(volume, args.image.name)
    volume_node.CreateDefaultDisplayNodes()
    curve = app.add_curve(simulate_clinician_centerline(truth, volume, axis, args.seed), f"{args.structure} centerline")
    segmentation = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "SPD")
    segmentation.CreateDefaultDisplayNodes()
    saliency = app.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "SPD saliency")
    audit = app.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "SPD prompt audit")
    nodes = SegmentNodes(volume_node, segmentation, curve=curve, saliency=saliency, audit=audit,
                         segment_name=args.structure)
    result = segment_nodes(nodes, args.model, InferenceOptions(device="cpu"))
    mask = segment_array(segmentation, result.segment_id, volume_node)
    fill_saliency_display(saliency, threshold=0.5)  # colour where the prior accepts prompts (tau 0.5)

    audit_ras = np.array([audit.GetNthControlPointPositionWorld(i) for i in range(audit.GetNumberOfControlPoints())])
    statuses = [audit.GetNthControlPointLabel(i) for i in range(audit.GetNumberOfControlPoints())]
    colours = np.array([STATUS_COLOURS.get(s, (255, 255, 255)) for s in statuses], np.uint8)
    slices = np.flatnonzero(np.moveaxis(truth, 2 - axis, 0).reshape(truth.shape[2 - axis], -1).any(axis=1))
    chosen = slices[np.linspace(0, len(slices) - 1, 5).round().astype(int)[1:4]]
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ volume.ijk_to_lps
    orientation = {0: "Sagittal", 1: "Coronal", 2: "Axial"}[axis]
    panels = []
    for t in chosen:
        ijk = np.zeros(4)
        ijk[axis], ijk[3] = t, 1.0
        offset = float((ras @ ijk)[{0: 0, 1: 1, 2: 2}[axis]])
        panels.append(render_slice(volume_node, None, saliency, segmentation, result.segment_id, slice_offset=offset,
                                   size=400, orientation=orientation, points_ras=audit_ras, point_colors=colours,
                                   saliency_opacity=0.3))
    figure, axes = plt.subplots(1, 3, figsize=(10.8, 4.2))
    for ax, t, panel in zip(axes, chosen, panels):
        ax.imshow(panel[..., :3])
        ax.set_title(f"slice {t}", fontsize=9)
        ax.axis("off")
    on_panels = np.isin(np.rint(volume.lps_to_ijk(audit_ras * [-1.0, -1.0, 1.0])[:, axis]).astype(int), chosen)
    shown = {status for status, shown_here in zip(statuses, on_panels) if shown_here}
    dsc = compute_dice(mask, truth)
    figure.suptitle(f"SPDSegment on a real MR scan ({args.structure}, simulated drifting centerline): {result.prior}; "
                    f"saliency (heat), segment (outline), prompts "
                    f"{', '.join(legend for status, legend in STATUS_LEGEND.items() if status in shown)}; "
                    f"DSC {dsc:.2f}", fontsize=8.5, wrap=True)
    if args.credit:
        figure.text(0.5, 0.01, args.credit, ha="center", fontsize=7.5)
    figure.tight_layout(rect=(0, 0.04, 1, 0.93))
    figure.savefig(args.out, dpi=100)
    print(json.dumps({"out": str(args.out), "model": args.model, "prior": result.prior, "dsc": round(dsc, 4),
                      "slices": result.slices_processed, "kept": result.prompts_kept,
                      "rejected": result.prompts_rejected,
                      "statuses": {status: statuses.count(status) for status in STATUS_LEGEND if status in statuses},
                      "notices": list(result.notices),
                      "seconds": round(result.seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
