"""``spdsegment``: segment, train, measure and compare from the command line (no Slicer needed).

Expected errors print one line saying what to do and exit with status 2 (traceback only with
``--verbose``); Ctrl-C exits with 130. No output file is created or touched unless the run succeeds.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from .errors import InputError
from .inference.io import (atomic_output, check_output_path, check_segment_name, file_suffix, json_text,
                           output_set, read_volume, write_segmentation, write_volume)

log = logging.getLogger("spdsegment")


def _prompts_from_files(args, volume, axis):
    from .inference.markup_files import read_curve, read_markup_points
    from .inference.prompts import Prompts, curve_to_prompts, points_to_prompts

    prompts = Prompts.empty()
    if args.curve:
        prompts = prompts + curve_to_prompts(read_curve(args.curve), volume, axis)
    if args.points:
        prompts = prompts + points_to_prompts(read_markup_points(args.points, ("Fiducial",)), volume, axis, True)
    if args.negative_points:
        prompts = prompts + points_to_prompts(read_markup_points(args.negative_points, ("Fiducial",)), volume, axis,
                                              False)
    if not prompts.positive.any():
        raise InputError("No positive prompt lies on any slice: give --curve and/or --points drawn on this image.")
    return prompts


def write_consensus_markups(path, prediction, volume, axis, force=False, outputs=None) -> None:
    """The audit as a Fiducial list: label = status; description = status, saliency, the prior that gave it and
    the source slice; the list's name says which prior checked the prompts."""
    from .inference.markup_files import write_markups

    audit = prediction.consensus.audit
    write_markups(path, "Fiducial", audit.to_lps(volume, axis), labels=[str(s) for s in audit.status],
                  descriptions=audit.descriptions(prediction.prior.label),
                  name=f"SPD prompt audit ({prediction.prior.label})", force=force, outputs=outputs)


def inference_options(args) -> "InferenceOptions":
    from .inference.options import InferenceOptions

    return InferenceOptions(prior=args.prior, tau=args.tau, neighbours=args.neighbours, prompt_mode=args.prompt_mode,
                            empty_slices=args.empty_slices, axis=args.axis, device=args.device,
                            precision=args.precision, batch_size=args.batch_size, runtime=args.runtime)


def cmd_segment(args) -> int:
    from tqdm import tqdm

    from .inference.model import build_model
    from .inference.model_spec import parse_model_spec
    from .inference.predictor import SpdPredictor

    outputs = [p for p in (args.output, args.saliency, args.consensus) if p]
    for path in outputs:
        check_output_path(path, args.force)
    if len({Path(p).resolve() for p in outputs}) != len(outputs):
        raise InputError("--output, --saliency and --consensus must be different files.")
    args.segment_name = check_segment_name(args.segment_name, nrrd_header=file_suffix(args.output) == ".seg.nrrd")
    if not (args.curve or args.points):
        raise InputError("Give a centerline (--curve C.mrk.json) and/or points (--points P.mrk.json).")
    options = inference_options(args)
    spec = parse_model_spec(args.model, args.backbone_checkpoint)
    started = time.perf_counter()
    volume = read_volume(args.image)
    axis = volume.slicing_axis(options.axis)
    prompts = _prompts_from_files(args, volume, axis)
    if args.saliency and options.prior == "raw":
        raise InputError("--prior raw checks no prompt, so there is no saliency map to write; drop --saliency or "
                         "choose another --prior.")
    model = build_model(spec)
    predictor = SpdPredictor(model, options)
    predictor.set_volume(volume, axis)
    with tqdm(desc="SPD", unit="batch", disable=args.quiet) as bar:
        def progress(done, total, stage):
            bar.total = total
            bar.set_description(f"SPD {stage.value}")
            bar.n = done
            bar.refresh()
        result = predictor.predict(prompts, options, progress)
    with output_set(args.force) as files:  # all three move into place together, or none does
        write_segmentation(args.output, result.mask_kji, volume, args.segment_name, outputs=files)
        if args.saliency:
            write_volume(args.saliency, result.saliency_kji.astype(np.float32), volume, outputs=files)
        if args.consensus:
            write_consensus_markups(args.consensus, result, volume, axis, outputs=files)
    audit = result.consensus.audit
    for notice in result.notices:
        print(f"spdsegment: note: {notice}", file=sys.stderr)
    if len(result.slices) == 0:
        print("spdsegment: warning: the segmentation is empty: " + (
              "every prompt was rejected (see --consensus for each prompt's fate). Check that the prompts lie on "
              "the structure, or try --prior none." if audit.count("rejected") == len(audit.status) else
              "the decoder found nothing at the kept prompts. Try --prompt-mode boxes or another --prior."),
              file=sys.stderr)
    summary = {"output": str(args.output), "prior": result.prior.route, "slices_with_mask": int(len(result.slices)),
               "slices_filled": len(result.filled_slices),
               "kept_local": audit.count("kept-local"), "kept_neighbour": audit.count("kept-neighbour"),
               "rejected": audit.count("rejected"), "joined": audit.count("joined"),
               "left_out": audit.count("left-out"), "voxels": int(result.mask_kji.sum()),
               "device": str(predictor.device), "seconds": round(time.perf_counter() - started, 2)}
    print(json_text(summary))
    return 0


def _binary_from_file(path, label):
    volume = read_volume(path)
    array = volume.array_kji
    mask = array == label if label is not None else array != 0
    if label is not None and not mask.any():
        raise InputError(f"Label value {label} does not occur in {path}; values present: "
                         f"{np.unique(array)[:20].astype(int).tolist()}.")
    return volume, mask


def cmd_metrics(args) -> int:
    from .inference.metrics import volume_and_slice_metrics

    pred_volume, prediction = _binary_from_file(args.prediction, args.pred_label)
    ref_volume, reference = _binary_from_file(args.reference, args.label)
    if prediction.shape != reference.shape or not np.allclose(pred_volume.ijk_to_lps, ref_volume.ijk_to_lps, atol=1e-3):
        raise InputError("Prediction and reference are not on the same voxel grid; resample one onto the other.")
    axis = ref_volume.slicing_axis(args.axis)
    metrics = volume_and_slice_metrics(prediction, reference, ref_volume.spacing, axis)
    if not prediction.any() or not reference.any():
        print(f"spdsegment: warning: {'the prediction' if not prediction.any() else 'the reference'} is empty, so "
              "HD95 and ASSD are undefined (null in --json).", file=sys.stderr)
    if args.json:
        print(json_text(metrics))
    else:
        v = metrics["volume"]
        print(f"DSC {v['dsc']:.4f}  IoU {v['iou']:.4f}  HD95 {v['hd95_mm']:.2f} mm  ASSD {v['assd_mm']:.2f} mm  "
              f"({len(metrics['slices'])} slices with either mask)")
    return 0


def cmd_train(args) -> int:
    from .training.dataset import read_case_list
    from .training.train import TrainConfig, Trainer

    if args.ct_window is not None and not args.ct_window[1] > 0:
        raise InputError(f"--ct-window {args.ct_window[0]:g} {args.ct_window[1]:g}: the window's width must be "
                         "positive, such as --ct-window 40 400 (soft tissue).")
    config = TrainConfig(backbone=args.backbone, image_size=args.image_size, variant=args.variant,
                         lora_rank=args.lora_rank, stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps,
                         batch_slices=args.batch_slices, window=args.window, lr=args.lr, decoder_lr=args.decoder_lr,
                         lambda_psc=args.lambda_psc,
                         psc_pairs=args.psc_pairs, tau=args.tau, neighbours=args.neighbours, prompts=args.prompts,
                         augment=not args.no_augment, seed=args.seed, device=args.device,
                         cache_embeddings=args.cache_embeddings, cache_dir=args.cache_dir,
                         ct_window=None if args.ct_window is None else tuple(args.ct_window))
    for name in ("adapter.safetensors", "train_log.json"):  # a finished run is never overwritten unasked
        out = Path(args.out)
        if out.is_dir():
            check_output_path(out / name, args.force)
    adapter = Trainer(read_case_list(args.data), config, args.out).run()
    print(json.dumps({"adapter": str(adapter), "log": str(Path(args.out) / "train_log.json")}))
    return 0


def cmd_evaluate(args) -> int:
    from .training.dataset import read_case_list
    from .training.evaluate import evaluate, standard_methods
    from .training.report import markdown_report, write_report

    if any("=" not in item or not item.split("=", 1)[0] for item in args.method):
        raise InputError("--method takes NAME=ADAPTER (for example spd=runs/spd/adapter.safetensors).")
    adapters = dict(item.split("=", 1) for item in args.method)
    for name in ("evaluation.json", "evaluation.md"):
        if Path(args.out).is_dir():
            check_output_path(Path(args.out) / name, args.force)
    methods = standard_methods(adapters, args.backbone_checkpoint)
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in methods})
        if unknown:
            raise InputError(f"--only names methods this run does not have: {', '.join(unknown)}; it has "
                             f"{', '.join(m.name for m in methods)}.")
        methods = [m for m in methods if m.name in args.only]
    report = evaluate(read_case_list(args.data), methods,
                      tuple(args.prompts), tuple(args.seeds), args.device, robustness_counts=tuple(args.robustness))
    write_report(report, args.out, force=args.force)
    print(markdown_report(report))
    return 0


def cmd_synthesize(args) -> int:
    from .training.synthetic import generate_case

    out = Path(args.out)
    if len(set(args.seeds)) != len(args.seeds):
        raise InputError("--seeds lists a seed twice; each seed makes one case.")
    if out.exists() and not out.is_dir() or out.is_symlink():
        raise InputError(f"--out {out} is not a folder; give a folder to write the cases into.")
    out.mkdir(parents=True, exist_ok=True)
    names = [(out / f"synthetic-{seed}.nii.gz", out / f"synthetic-{seed}_ti.nii.gz") for seed in args.seeds]
    listing = out / "cases.json"
    for path in [listing, *(path for pair in names for path in pair)]:
        check_output_path(path, args.force)  # every refusal before the first file is written
    rows = []
    with output_set(args.force) as files:
        for seed, (image, label) in zip(args.seeds, names):
            case = generate_case(seed)
            write_volume(image, case.volume.array_kji, case.volume, outputs=files)
            write_volume(label, case.label_kji.astype(np.uint8), case.volume, outputs=files)
            rows.append({"image": image.name, "label": label.name, "label_value": 1, "name": f"synthetic-{seed}"})
        files.add(listing).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(json.dumps({"cases": str(listing), "count": len(rows)}))
    return 0


def cmd_bench(args) -> int:
    from .tools.bench import format_report, report_json, run_benchmark

    if args.slices < 1:
        raise InputError("--slices must be at least 1.")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError("--batch-size must be at least 1.")
    if args.matrix is not None and not 64 <= args.matrix <= 1024:
        raise InputError(f"--matrix {args.matrix}: give the in-plane pixels of a slice, 64 to 1024 (512 for a "
                         "clinical matrix).")
    if args.json:
        check_output_path(args.json, args.force)
    report = run_benchmark(args.backbone, args.device, args.slices, args.image_size, args.precision, args.compile,
                           args.batch_size, skip_stock=args.skip_stock, prompt_kind=args.prompts, only_path=args.path,
                           matrix=args.matrix)
    print(format_report(report))
    if args.json:
        with atomic_output(args.json, args.force) as tmp:
            tmp.write_text(report_json(report), encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spdsegment", description="Saliency-Guided Prompt Distillation for SAM. "
                                     "Research use only.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    seg = sub.add_parser("segment", help="segment a volume from a centerline and/or points")
    seg.add_argument("image")
    seg.add_argument("--curve", help="centerline, Slicer .mrk.json Curve (LPS or RAS)")
    seg.add_argument("--points", help="positive points, .mrk.json Fiducial")
    seg.add_argument("--negative-points", help="negative points, .mrk.json Fiducial")
    seg.add_argument("--model", default="default", help="default | frozen | ADAPTER.safetensors | sam_vit_b:CKPT")
    seg.add_argument("--backbone-checkpoint", help="SAM weights an adapter of a SAM backbone was trained on")
    seg.add_argument("--axis", default="auto", choices=["auto", "axial", "coronal", "sagittal"])
    seg.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                     help="auto: CUDA, then Apple MPS, then the CPU")
    seg.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                     help="encoder and decoder arithmetic (auto: fp16 on CUDA, fp32 on the CPU; bf16 is faster "
                          "on the CPU but changes masks slightly)")
    seg.add_argument("--prior", default="auto", choices=["auto", "learned", "none", "raw"],
                     help="what checks the prompts: auto (the learned prior where it agrees with the prompts, else "
                          "none), learned (the model's saliency head), none (no learned prior: the prompts are "
                          "checked against each other and decoded with boxes fitted to the structure) or raw (every "
                          "prompt as given, one box per cluster: the frozen baseline); default auto")
    seg.add_argument("--tau", type=float, help="saliency threshold (default: the model's, 0.5)")
    seg.add_argument("--neighbours", type=int, help="CPD neighbour slices n on each side (default: the model's, 2)")
    seg.add_argument("--prompt-mode", choices=["points", "boxes"], help="how consensus prompts reach the decoder")
    seg.add_argument("--empty-slices", choices=["skip", "argmax"],
                     help="a slice whose prompts the prior all rejects: no mask (skip) or a prompt at its saliency "
                          "maximum if above tau (argmax); default: the model's")
    seg.add_argument("--batch-size", type=int, help="slices per encoder call (default: chosen for the device)")
    seg.add_argument("--runtime", default="auto", choices=["auto", "torch", "openvino", "onnx"],
                     help="what runs the image encoder, the saliency head and the mask decoder: auto (on the CPU in "
                          "fp32, the encoder and the head on OpenVINO, the decoder on ONNX Runtime, or all on "
                          "whichever is installed; torch elsewhere), torch, openvino or onnx (all on that one)")
    seg.add_argument("--output", required=True, help="segmentation: .seg.nrrd, .nii.gz or .nrrd")
    seg.add_argument("--saliency", help="saliency map output (.nii.gz or .nrrd), values in [0, 1]")
    seg.add_argument("--consensus", help="prompt audit output, .mrk.json Fiducial")
    seg.add_argument("--segment-name", default="SPD")
    seg.add_argument("--force", action="store_true", help="replace existing output files")
    seg.add_argument("--quiet", action="store_true", help="no progress bar")
    seg.set_defaults(run=cmd_segment)

    met = sub.add_parser("metrics", help="DSC, IoU, HD95 and ASSD (mm) per volume and per slice")
    met.add_argument("prediction")
    met.add_argument("reference")
    met.add_argument("--label", type=int, help="reference label value (default: any non-zero)")
    met.add_argument("--pred-label", type=int, help="prediction label value (default: any non-zero)")
    met.add_argument("--axis", default="auto", choices=["auto", "axial", "coronal", "sagittal"])
    met.add_argument("--json", action="store_true")
    met.set_defaults(run=cmd_metrics)

    tr = sub.add_parser("train", help="train an SPD adapter (stage 1, then stage 2)",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    tr.add_argument("--data", required=True, help="JSON or CSV list of cases (image, label, label_value, "
                                                  "optional centerline)")
    tr.add_argument("--backbone", default="litemedsam", help="litemedsam, or sam_vit_b/l/h:CHECKPOINT")
    tr.add_argument("--image-size", type=int, help="SAM ViT input side (LiteMedSAM is always 256)")
    tr.add_argument("--out", required=True, help="folder for adapter.safetensors, train_log.json and the resumable "
                                                 "train_state.pt (a run in it resumes)")
    tr.add_argument("--force", action="store_true", help="replace a finished run's adapter and log in --out")
    tr.add_argument("--variant", default="spd", choices=["sam_tuning", "local", "cpd", "spd"],
                    help="what is trained: sam_tuning (decoder on raw prompts), local (+ saliency prior, local "
                         "validation), cpd (+ neighbours), spd (+ PSC loss)")
    tr.add_argument("--lora-rank", type=int, default=4, help="LoRA rank on the encoder's qkv (0: frozen encoder)")
    tr.add_argument("--stage1-steps", type=int, default=200, help="optimiser steps of stage 1 (LoRA, saliency head)")
    tr.add_argument("--stage2-steps", type=int, default=200, help="optimiser steps of stage 2 (mask decoder)")
    tr.add_argument("--batch-slices", type=int, default=4, help="slices per stage-1 step")
    tr.add_argument("--window", type=int, default=3, help="consecutive slices decoded per stage-2 step")
    tr.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate of stage 1")
    tr.add_argument("--decoder-lr", type=float, default=1e-4, help="AdamW learning rate of stage 2")
    tr.add_argument("--lambda-psc", type=float, default=0.5, help="weight of the pairwise slice consistency loss")
    tr.add_argument("--psc-pairs", default="next", choices=["next", "previous", "both"],
                    help="which neighbour PSC pulls each slice towards")
    tr.add_argument("--tau", type=float, default=0.5, help="saliency threshold of CPD in stage 2 (kept in the adapter)")
    tr.add_argument("--neighbours", type=int, default=2, help="CPD neighbour slices n on each side (kept in the "
                                                             "adapter)")
    tr.add_argument("--prompts", default="mixed", choices=["noise", "centerline", "mixed"],
                    help="simulated prompts: 1 TP + 2-5 random points a slice, a clinician-like centerline, or "
                         "both in turn")
    tr.add_argument("--no-augment", action="store_true", help="no random flips and intensity changes")
    tr.add_argument("--cache-embeddings", action="store_true",
                    help="encode each slice once (CPU budgets; needs --lora-rank 0, turns image augmentation off)")
    tr.add_argument("--cache-dir", help="keep cached embeddings here between runs (e.g. the ablation variants)")
    tr.add_argument("--ct-window", type=float, nargs=2, metavar=("LEVEL", "WIDTH"),
                    help="show CT through this window in Hounsfield units (40 400: soft tissue, as LiteMedSAM's CT "
                         "training images) instead of percentile scaling, here and wherever the adapter runs; a "
                         "volume is taken for CT when 0.5 %% of it lies below -500, other images keep percentiles")
    tr.add_argument("--seed", type=int, default=0, help="seeds torch and the prompt draws (same seed, same run)")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                    help="auto: CUDA, then Apple MPS, then the CPU")
    tr.set_defaults(run=cmd_train)

    syn = sub.add_parser("synthesize", help="write seeded MR-enterography-like volumes, labels and a case list")
    syn.add_argument("--seeds", nargs="+", type=int, required=True)
    syn.add_argument("--out", required=True)
    syn.add_argument("--force", action="store_true")
    syn.set_defaults(run=cmd_synthesize)

    be = sub.add_parser("bench", help="time the stock SAM loop against SPDSegment's path on one device")
    be.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    be.add_argument("--backbone", default="litemedsam",
                    help="litemedsam | sam_vit_b | sam_vit_l | sam_vit_h, optionally NAME:CHECKPOINT (random "
                         "weights without one: timing only)")
    be.add_argument("--slices", type=int, default=100, help="slices of the generated volume")
    be.add_argument("--matrix", type=int, help="in-plane pixels of its slices (default 160, 1.5 mm; 512 resamples "
                                                "the same 240 mm field onto a clinical matrix)")
    be.add_argument("--prompts", default="every-slice", choices=["every-slice", "centerline"],
                    help="a point on every slice (worst case) or the clinician-like centerline")
    be.add_argument("--image-size", type=int, help="SAM ViT input side (default 1024)")
    be.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    be.add_argument("--compile", action="store_true", help="torch.compile the encoder (compiled before timing)")
    be.add_argument("--batch-size", type=int, help="slices per encoder call")
    be.add_argument("--skip-stock", action="store_true", help="time SPDSegment's paths only")
    be.add_argument("--path", help="time only this SPDSegment path (spd-fp32, spd-fast, spd-onnx, spd-openvino, "
                                   "spd-auto) and the re-runs on it, so its peak RSS is its own (with --skip-stock)")
    be.add_argument("--json", help="also write the figures as JSON here")
    be.add_argument("--force", action="store_true")
    be.set_defaults(run=cmd_bench)

    ev = sub.add_parser("evaluate", help="compare methods on the same prompts (JSON + markdown table)")
    ev.add_argument("--data", required=True)
    ev.add_argument("--method", action="append", default=[], metavar="NAME=ADAPTER",
                    help="an adapter to compare (name spd is the Wilcoxon reference); repeatable")
    ev.add_argument("--backbone-checkpoint")
    ev.add_argument("--prompts", nargs="+", default=["centerline", "noise"], metavar="PROTOCOL",
                    help="centerline | noise (1 true positive + 2-5 random points a slice) | random:K")
    ev.add_argument("--robustness", nargs="*", type=int, default=[], metavar="K",
                    help="also measure DSC with 1 true positive + K random points a slice, for each K")
    ev.add_argument("--seeds", nargs="+", type=int, default=[0])
    ev.add_argument("--only", nargs="+", metavar="METHOD",
                    help="run only these of the methods (for example frozen-boxes spd); default: all")
    ev.add_argument("--device", default="auto")
    ev.add_argument("--out", required=True, help="folder for evaluation.json, evaluation.md and the plots")
    ev.add_argument("--force", action="store_true", help="replace an earlier evaluation in --out")
    ev.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("spdsegment: interrupted; no output was written.", file=sys.stderr)
        return 130
    except (InputError, ValueError, RuntimeError) as error:
        if args.verbose:  # the details first, then the same one line and status as without -v
            traceback.print_exc()
        print(f"spdsegment: error: {str(error).strip().splitlines()[0] if str(error).strip() else error!r}",
              file=sys.stderr)
        return 2
    except OSError as error:  # disk full, permission lost, file vanished: nothing half-written stays behind
        if args.verbose:
            traceback.print_exc()
        print(f"spdsegment: error: {error.strerror or error} ({error.filename or 'while reading or writing'}); "
              "no output was left behind. Free space or choose another location, then run again.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
