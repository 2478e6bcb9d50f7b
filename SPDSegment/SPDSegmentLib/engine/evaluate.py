"""The methods side by side on the same prompts, with paired Wilcoxon tests against SPD.

Methods are models (see :func:`model.build_model`) plus how prompts reach them. Built in: the frozen
backbone with raw points, with raw points turned into boxes, and (given an SPD adapter) the zero-shot
case, the frozen decoder fed SPD's consensus prompts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .dataset import Case, CaseSpec, load_case
from .metrics import mean_sd, paired_wilcoxon, volume_and_slice_metrics
from .model import SpdModel, build_model
from .predictor import SpdPredictor
from .prompts import Prompts, curve_to_prompts
from .simulate import simulate_clinician_centerline, simulate_noisy_points

log = logging.getLogger(__name__)


@dataclass
class Method:
    name: str
    build: Callable[[], SpdModel]


def standard_methods(adapters: dict[str, str], backbone_checkpoint: str | None = None) -> list[Method]:
    """Frozen-points, frozen-boxes, zero-shot consensus (if an ``spd`` adapter is given), then ``adapters``."""

    def frozen(mode: str) -> Callable[[], SpdModel]:
        def build():
            model = build_model("frozen")
            model.config = replace(model.config, prompt_mode=mode)
            return model
        return build

    methods = [Method("frozen-points", frozen("points")), Method("frozen-boxes", frozen("boxes"))]
    if "spd" in adapters:
        def zero_shot():
            model = build_model(adapters["spd"], backbone_checkpoint)
            model.reset_decoder()
            model.config = replace(model.config, prompt_mode="boxes" if model.backbone.box_trained else "points")
            return model
        methods.append(Method("zero-shot-consensus", zero_shot))
    for name, path in adapters.items():
        methods.append(Method(name, lambda p=path: build_model(p, backbone_checkpoint)))
    return methods


def case_prompts(case: Case, protocol: str, seed: int, random_points: tuple[int, int] = (2, 5)) -> Prompts:
    if protocol == "noise":
        return simulate_noisy_points(case.mask_kji, case.axis, seed, random_points)
    if protocol == "centerline":
        curves = case.centerline_lps or [simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed)]
        return curve_to_prompts(curves, case.volume, case.axis)
    raise ValueError(f"prompt protocol must be noise or centerline, got {protocol!r}.")


def evaluate(specs: list[CaseSpec], methods: list[Method], protocols=("centerline", "noise"), seeds=(0,),
             device: str = "auto", reference: str | None = None) -> dict:
    """Per-case metrics of every method on identical prompts, their summary and p-values vs ``reference``."""
    cases = [load_case(spec) for spec in specs]
    rows = []
    # methods with the same encoder (e.g. every rank-0 adapter on one backbone) share its embeddings
    shared: dict[tuple[str, int], dict] = {}
    for method in methods:
        predictor = SpdPredictor(method.build(), device)
        encoder_key = predictor.encoder_key()
        for case_index, case in enumerate(cases):
            predictor.set_volume(case.volume, case.axis, shared.setdefault((encoder_key, case_index), {}))
            for protocol in protocols:
                for seed in seeds:
                    prompts = case_prompts(case, protocol, seed)
                    result = predictor.predict(prompts)
                    metrics = volume_and_slice_metrics(result.mask_kji, case.mask_kji, case.volume.spacing, case.axis)
                    rows.append({"method": method.name, "case": case.spec.name, "protocol": protocol, "seed": seed,
                                 **metrics["volume"], "slices": metrics["slices"]})
                    log.info("%s %s %s seed %d: DSC %.3f", method.name, case.spec.name, protocol, seed,
                             metrics["volume"]["dsc"])
    reference = reference or ("spd" if any(m.name == "spd" for m in methods) else methods[-1].name)
    return {"rows": rows, "summary": summarise(rows, [m.name for m in methods], reference), "reference": reference}


def summarise(rows: list[dict], method_names: list[str], reference: str) -> list[dict]:
    def values(name, key):
        ordered = sorted((r for r in rows if r["method"] == name), key=lambda r: (r["case"], r["protocol"], r["seed"]))
        return [r[key] for r in ordered]

    summary = []
    for name in method_names:
        entry = {"method": name}
        for key in ("dsc", "iou", "hd95_mm", "assd_mm"):
            entry[key] = mean_sd(values(name, key))
        entry["p_dsc_vs_reference"] = None if name == reference else paired_wilcoxon(values(name, "dsc"),
                                                                                    values(reference, "dsc"))
        summary.append(entry)
    return summary


def markdown_table(report: dict) -> str:
    lines = [f"| method | DSC (%) | IoU (%) | HD95 (mm) | ASSD (mm) | p (DSC vs {report['reference']}) |",
             "|---|---|---|---|---|---|"]
    for entry in report["summary"]:
        def fmt(pair, scale=1.0):
            mean, sd = pair
            return "n/a" if np.isnan(mean) else f"{mean * scale:.2f} ± {sd * scale:.2f}"
        p = entry["p_dsc_vs_reference"]
        lines.append(f"| {entry['method']} | {fmt(entry['dsc'], 100)} | {fmt(entry['iou'], 100)} | "
                     f"{fmt(entry['hd95_mm'])} | {fmt(entry['assd_mm'])} | {'—' if p is None else f'{p:.3g}'} |")
    return "\n".join(lines) + "\n"


def plot_report(report: dict, path: str | Path) -> None:
    """DSC per method: a bar of the mean and a dot per case and prompt protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [entry["method"] for entry in report["summary"]]
    figure, ax = plt.subplots(figsize=(1.3 * len(names) + 1.5, 3.6))
    for x, entry in enumerate(report["summary"]):
        values = [r["dsc"] for r in report["rows"] if r["method"] == entry["method"]]
        ax.bar(x, entry["dsc"][0], color="#f08a24", alpha=0.6)
        ax.scatter(np.full(len(values), x) + np.linspace(-0.2, 0.2, len(values)), values, s=12, color="black")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("DSC")
    ax.set_ylim(0, 1)
    ax.set_title(f"DSC per method (dots: case x prompt protocol); reference {report['reference']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """``evaluation.json``, ``evaluation.md`` and, when matplotlib is installed, ``evaluation.png``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    json_path.write_text(json.dumps(report, indent=1, default=float), encoding="utf-8")
    md_path.write_text(markdown_table(report), encoding="utf-8")
    try:
        plot_report(report, out_dir / "evaluation.png")
    except ImportError:
        log.info("matplotlib is not installed; no evaluation plot")
    return json_path, md_path
