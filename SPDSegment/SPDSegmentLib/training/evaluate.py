"""The methods side by side on the same prompts, with paired Wilcoxon tests against SPD.

Methods are models (see :func:`~..inference.model.build_model`) plus the options they run with (which prior
checks the prompts, how they reach the decoder); :func:`standard_methods` lists the built-in ones.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .dataset import Case, CaseSpec, load_case
from ..inference.metrics import mean_sd, paired_wilcoxon, volume_and_slice_metrics
from ..inference.model import SpdModel, build_model, read_adapter
from ..inference.model_spec import LITEMEDSAM, parse_model_spec
from ..inference.options import InferenceOptions
from ..inference.predictor import SpdPredictor
from ..inference.prompts import Prompts, curve_to_prompts
from .simulate import simulate_clinician_centerline, simulate_noisy_points

log = logging.getLogger(__name__)


@dataclass
class Method:
    """A model and the options it runs with (device and precision come from :func:`evaluate`)."""

    name: str
    build: Callable[[], SpdModel]
    options: InferenceOptions = field(default_factory=InferenceOptions)


def standard_methods(adapters: dict[str, str], backbone_checkpoint: str | None = None) -> list[Method]:
    """The yardsticks, then ``adapters`` as shipped (prior ``auto``).

    - ``frozen-points`` / ``frozen-boxes``: the frozen backbone with every prompt as given (prior ``raw``),
      as points or as one box per cluster grown by 10 mm (the baseline every gain is measured against);
    - given an ``spd`` adapter: ``zero-shot-consensus`` (its learned prior's consensus fed to the untuned
      decoder) and ``spd-learned`` (the learned prior forced, the paper's route).
    """
    specs = {name: parse_model_spec(path, backbone_checkpoint) for name, path in adapters.items()}
    def frozen():
        return build_model("frozen")

    methods = [Method("frozen-points", frozen, InferenceOptions(prior="raw", prompt_mode="points")),
               Method("frozen-boxes", frozen, InferenceOptions(prior="raw", prompt_mode="boxes"))]
    spd = specs.get("spd")
    if spd is not None and spd.is_adapter and read_adapter(spd.adapter)[0].saliency:
        def zero_shot():
            model = build_model(spd)
            model.reset_decoder()
            return model
        # the untuned decoder of a box-trained backbone (LiteMedSAM) takes boxes
        box_trained = read_adapter(spd.adapter)[0].backbone == LITEMEDSAM
        methods.append(Method("zero-shot-consensus", zero_shot,
                              InferenceOptions(prior="learned", prompt_mode="boxes" if box_trained else "points")))
        methods.append(Method("spd-learned", lambda: build_model(spd), InferenceOptions(prior="learned")))
    for name, spec in specs.items():
        methods.append(Method(name, lambda s=spec: build_model(s)))
    return methods


PROTOCOLS = ("centerline", "noise", "random:K")


def parse_protocol(protocol: str) -> tuple[str, tuple[int, int]]:
    """``centerline``; ``noise`` (1 true positive + 2-5 random points a slice); ``random:K`` (1 + K random)."""
    if protocol in ("centerline", "noise"):
        return protocol, (2, 5)
    name, _, count = protocol.partition(":")
    if name == "random" and count.isdigit() and int(count) >= 0:
        return "noise", (int(count), int(count))
    raise ValueError(f"prompt protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}.")


def case_prompts(case: Case, protocol: str, seed: int) -> Prompts:
    kind, random_points = parse_protocol(protocol)
    if kind == "noise":
        return simulate_noisy_points(case.mask_kji, case.axis, seed, random_points)
    curves = case.centerline_lps or [simulate_clinician_centerline(case.mask_kji, case.volume, case.axis, seed)]
    return curve_to_prompts(curves, case.volume, case.axis)


def evaluate(specs: list[CaseSpec], methods: list[Method], protocols=("centerline", "noise"), seeds=(0,),
             device: str = "auto", reference: str | None = None, robustness_counts=()) -> dict:
    """Per-case metrics of every method on identical prompts, their summary and p-values vs ``reference``.

    Args:
        robustness_counts: numbers K of random points per slice for the robustness curve (``random:K``
            prompts on every case and seed), summarised apart from ``protocols``.
    """
    for protocol in protocols:
        parse_protocol(protocol)
    robustness_protocols = tuple(f"random:{k}" for k in robustness_counts)
    cases = [load_case(spec) for spec in specs]
    all_protocols = tuple(protocols) + robustness_protocols
    # drawn once, so every method sees the very same prompts
    prompts = {(c, protocol, seed): case_prompts(case, protocol, seed)
               for c, case in enumerate(cases) for protocol in all_protocols for seed in seeds}
    rows = []
    # methods with the same encoder (e.g. every rank-0 adapter on one backbone) share its embeddings
    # and cases on one image (several labels of one scan) share them too
    shared: dict[tuple[str, str, int], dict] = {}
    for method in methods:
        options = replace(method.options, device=device)
        predictor = SpdPredictor(method.build(), options)
        encoder_key = predictor.encoder_key()
        for case_index, case in enumerate(cases):
            image = str(Path(case.spec.image).resolve())
            predictor.set_volume(case.volume, case.axis, shared.setdefault((encoder_key, image, case.axis), {}))
            for protocol in all_protocols:
                for seed in seeds:
                    result = predictor.predict(prompts[case_index, protocol, seed], options)
                    metrics = volume_and_slice_metrics(result.mask_kji, case.mask_kji, case.volume.spacing, case.axis)
                    rows.append({"method": method.name, "case": case.spec.name, "protocol": protocol, "seed": seed,
                                 "route": result.prior.route, **metrics["volume"], "slices": metrics["slices"]})
                    log.info("%s %s %s seed %d: DSC %.3f", method.name, case.spec.name, protocol, seed,
                             metrics["volume"]["dsc"])
    names = [m.name for m in methods]
    reference = reference or ("spd" if "spd" in names else names[-1])
    main_rows = [r for r in rows if r["protocol"] in protocols]
    return {"rows": rows, "summary": summarise(main_rows, names, reference), "reference": reference,
            "cases": [case.spec.name for case in cases], "protocols": list(protocols), "seeds": list(seeds),
            "robustness": robustness_summary(rows, names, robustness_counts)}


def robustness_summary(rows: list[dict], method_names: list[str], counts) -> list[dict]:
    """Mean ± sd DSC of each method for each number K of random points per slice."""
    return [{"method": name, "dsc_by_count": {int(k): mean_sd([r["dsc"] for r in rows if r["method"] == name
                                                               and r["protocol"] == f"random:{k}"])
                                              for k in counts}}
            for name in method_names] if counts else []


def subset_report(report: dict, case_names: list[str]) -> dict:
    """The report restricted to some cases (for example the in-domain ones), summarised and tested anew."""
    rows = [r for r in report["rows"] if r["case"] in case_names]
    names = [entry["method"] for entry in report["summary"]]
    counts = sorted(report["robustness"][0]["dsc_by_count"]) if report.get("robustness") else ()
    main_rows = [r for r in rows if r["protocol"] in report["protocols"]]
    return {**report, "rows": rows, "cases": [c for c in report["cases"] if c in case_names],
            "summary": summarise(main_rows, names, report["reference"]),
            "robustness": robustness_summary(rows, names, counts)}


def case_summary(report: dict) -> dict[str, dict[str, float]]:
    """Mean DSC of each method on each case over the main protocols and seeds."""
    table: dict[str, dict[str, float]] = {}
    for entry in report["summary"]:
        name = entry["method"]
        table[name] = {case: float(np.mean([r["dsc"] for r in report["rows"] if r["method"] == name
                                            and r["case"] == case and r["protocol"] in report["protocols"]]))
                       for case in report["cases"]}
    return table


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


ABLATION_ORDER = ("sam_tuning", "local", "cpd", "spd")


def target_checks(report: dict) -> list[tuple[str, str, bool]]:
    """Issue-4 targets that the report's methods allow checking: (target, what was measured, met)."""
    summary = {entry["method"]: entry for entry in report["summary"]}
    dsc = {name: entry["dsc"][0] * 100 for name, entry in summary.items()}
    checks = []
    steps = [name for name in ABLATION_ORDER if name in dsc]
    if len(steps) > 1:
        gains = [f"{b} − {a}: {dsc[b] - dsc[a]:+.1f}" for a, b in zip(steps, steps[1:])]
        checks.append(("every ablation step adds DSC", "; ".join(gains),
                       all(dsc[b] > dsc[a] for a, b in zip(steps, steps[1:]))))
    if "spd" in dsc:
        for other, margin in (("sam_tuning", 10), ("frozen-points", 20), ("frozen-boxes", 20)):
            if other in dsc:
                p = summary[other]["p_dsc_vs_reference"] if report["reference"] == "spd" else None
                gap = dsc["spd"] - dsc[other]
                checks.append((f"spd ≥ {other} + {margin} DSC points, p < 0.05",
                               f"{gap:+.1f} points, p = {'n/a' if p is None else f'{p:.3g}'}",
                               gap >= margin and p is not None and p < 0.05))
    for entry in report.get("robustness", []):
        if entry["method"] == "spd" and len(entry["dsc_by_count"]) > 1:
            counts = sorted(entry["dsc_by_count"])
            first, last = entry["dsc_by_count"][counts[0]][0] * 100, entry["dsc_by_count"][counts[-1]][0] * 100
            checks.append((f"spd loses ≤ 5 DSC points from {counts[0]} to {counts[-1]} random points",
                           f"{first:.1f} → {last:.1f} ({last - first:+.1f})", first - last <= 5))
    return checks


def markdown_report(report: dict, plot_prefix: str = "evaluation") -> str:
    """The whole report: summary, per-case and robustness tables with their plots, and the target checks."""
    parts = [f"Cases: {', '.join(report['cases'])}. Prompt protocols: {', '.join(report['protocols'])}; "
             f"seeds {', '.join(map(str, report['seeds']))}.\n",
             f"![DSC per method]({plot_prefix}.png)\n", markdown_table(report)]
    per_case = case_summary(report)
    parts.append("\n**DSC (%) per case** (mean over protocols and seeds)\n\n"
                 f"![DSC per case]({plot_prefix}_cases.png)\n")
    parts.append("| method | " + " | ".join(report["cases"]) + " |\n|---|" + "---|" * len(report["cases"]))
    for name, values in per_case.items():
        parts.append(f"| {name} | " + " | ".join(f"{values[c] * 100:.1f}" for c in report["cases"]) + " |")
    if report.get("robustness"):
        counts = sorted(report["robustness"][0]["dsc_by_count"])
        parts.append(f"\n**Robustness: DSC (%) against K random points per slice** (1 true positive + K; every "
                     f"case and seed)\n\n![Robustness]({plot_prefix}_robustness.png)\n")
        parts.append("| method | " + " | ".join(f"K = {k}" for k in counts)
                     + f" | change {counts[0]} → {counts[-1]} |")
        parts.append("|---|" + "---|" * (len(counts) + 1))
        for entry in report["robustness"]:
            values = [entry["dsc_by_count"][k][0] * 100 for k in counts]
            parts.append(f"| {entry['method']} | " + " | ".join(f"{v:.1f} ± {entry['dsc_by_count'][k][1] * 100:.1f}"
                                                              for v, k in zip(values, counts))
                         + f" | {values[-1] - values[0]:+.1f} |")
    checks = target_checks(report)
    if checks:
        parts.append("\n**Targets**\n\n| target | measured | met |\n|---|---|---|")
        parts += [f"| {target} | {measured} | {'yes' if met else '**no**'} |" for target, measured, met in checks]
    return "\n".join(parts) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_dsc_plot(plt, figure, ax, title: str, path: str | Path, legend: bool = True) -> None:
    ax.set_ylabel("DSC")
    ax.set_ylim(0, 1)
    if legend:
        ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_cases(report: dict, path: str | Path) -> None:
    plt = _pyplot()
    per_case = case_summary(report)
    figure, ax = plt.subplots(figsize=(1.6 * len(report["cases"]) + 2.5, 3.6))
    width = 0.8 / max(1, len(per_case))
    for index, (name, values) in enumerate(per_case.items()):
        ax.bar(np.arange(len(report["cases"])) + index * width, [values[c] for c in report["cases"]], width,
               label=name)
    ax.set_xticks(np.arange(len(report["cases"])) + 0.4 - width / 2, report["cases"], rotation=15, ha="right",
                  fontsize=8)
    _save_dsc_plot(plt, figure, ax, "DSC per case (mean over prompt protocols and seeds)", path)


def plot_robustness(report: dict, path: str | Path) -> None:
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(5.5, 3.6))
    for entry in report["robustness"]:
        counts = sorted(entry["dsc_by_count"])
        ax.plot(counts, [entry["dsc_by_count"][k][0] for k in counts], marker="o", label=entry["method"])
    ax.set_xlabel("random points per slice (plus one true positive)")
    _save_dsc_plot(plt, figure, ax, "Robustness to false-positive prompts", path)


def plot_report(report: dict, path: str | Path) -> None:
    """DSC per method: a bar of the mean and a dot per case and prompt protocol."""
    plt = _pyplot()
    names = [entry["method"] for entry in report["summary"]]
    figure, ax = plt.subplots(figsize=(1.3 * len(names) + 1.5, 3.6))
    for x, entry in enumerate(report["summary"]):
        values = [r["dsc"] for r in report["rows"] if r["method"] == entry["method"]
                  and r["protocol"] in report.get("protocols", [r["protocol"]])]
        ax.bar(x, entry["dsc"][0], color="#f08a24", alpha=0.6)
        ax.scatter(np.full(len(values), x) + np.linspace(-0.2, 0.2, len(values)), values, s=12, color="black")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    _save_dsc_plot(plt, figure, ax, f"DSC per method (dots: case x prompt protocol x seed); reference "
                   f"{report['reference']}", path, legend=False)


def read_report(path: str | Path) -> dict:
    """An ``evaluation.json`` back as :func:`evaluate` returned it (JSON turned the counts K into strings)."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    for entry in report.get("robustness", []):
        entry["dsc_by_count"] = {int(k): tuple(v) for k, v in entry["dsc_by_count"].items()}
    for entry in report["summary"]:
        for key in ("dsc", "iou", "hd95_mm", "assd_mm"):
            entry[key] = tuple(entry[key])
    return report


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """``evaluation.json``, ``evaluation.md`` and, when matplotlib is installed, a PNG per table."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    json_path.write_text(json.dumps(report, indent=1, default=float), encoding="utf-8")
    md_path.write_text(markdown_report(report), encoding="utf-8")
    try:
        plot_report(report, out_dir / "evaluation.png")
        plot_cases(report, out_dir / "evaluation_cases.png")
        if report.get("robustness"):
            plot_robustness(report, out_dir / "evaluation_robustness.png")
    except ImportError:
        log.info("matplotlib is not installed; no evaluation plots")
    return json_path, md_path
