"""The evaluation as a report: markdown tables, the target checks and a plot per table.

Reads what :func:`.evaluate.evaluate` returns (or ``evaluation.json`` written by :func:`write_report`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..inference.io import json_text, output_set
from .evaluate import case_summary, subset_report

log = logging.getLogger(__name__)


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
YARDSTICK = "frozen-boxes"


def _gap(report: dict, method: str, other: str) -> tuple[float, float | None]:
    """DSC points method − other, and the Wilcoxon p of other against the reference (when method is it)."""
    summary = {entry["method"]: entry for entry in report["summary"]}
    p = summary[other]["p_dsc_vs_reference"] if report["reference"] == method else None
    return 100 * (summary[method]["dsc"][0] - summary[other]["dsc"][0]), p


def _robustness_loss(report: dict, method: str) -> tuple[float, float, list[int]] | None:
    for entry in report.get("robustness", []):
        if entry["method"] == method and len(entry["dsc_by_count"]) > 1:
            counts = sorted(entry["dsc_by_count"])
            return (100 * entry["dsc_by_count"][counts[0]][0], 100 * entry["dsc_by_count"][counts[-1]][0],
                    [counts[0], counts[-1]])
    return None


def target_checks(report: dict, real: list[str] = (), generated: list[str] = ()) -> list[tuple[str, str, bool]]:
    """The targets the report's methods allow checking: (target, what was measured, met).

    On every case set: the ablation steps, and spd against the other methods. With ``real`` and
    ``generated`` case names: the real-scan targets (never worse than frozen-boxes on any real case, +10
    points and half the HD95 over the real cases, no empty result) and the in-domain ones (at least 46.5
    and frozen-boxes + 20 on the generated volumes), and the robustness of each set.
    """
    summary = {entry["method"]: entry for entry in report["summary"]}
    dsc = {name: entry["dsc"][0] * 100 for name, entry in summary.items()}
    checks = []
    steps = [name for name in ABLATION_ORDER if name in dsc]
    if len(steps) > 1:
        gains = [f"{b} − {a}: {dsc[b] - dsc[a]:+.1f}" for a, b in zip(steps, steps[1:])]
        checks.append(("every ablation step adds DSC", "; ".join(gains),
                       all(dsc[b] > dsc[a] for a, b in zip(steps, steps[1:]))))
    if "spd" in dsc and not (real or generated):
        for other, margin in (("sam_tuning", 10), ("frozen-points", 20), (YARDSTICK, 20)):
            if other in dsc:
                gap, p = _gap(report, "spd", other)
                checks.append((f"spd ≥ {other} + {margin} DSC points, p < 0.05",
                               f"{gap:+.1f} points, p = {'n/a' if p is None else f'{p:.3g}'}",
                               gap >= margin and p is not None and p < 0.05))
    if "spd" in dsc and YARDSTICK in dsc and real:
        per_case = case_summary(report)
        gaps = {case: 100 * (per_case["spd"][case] - per_case[YARDSTICK][case]) for case in real}
        checks.append((f"every real case: spd ≥ {YARDSTICK} − 2 DSC points",
                       "; ".join(f"{case} {gap:+.1f}" for case, gap in gaps.items()), min(gaps.values()) >= -2))
        subset = subset_report(report, list(real))
        gap, p = _gap(subset, "spd", YARDSTICK)
        checks.append((f"real cases: spd ≥ {YARDSTICK} + 10 DSC points, p < 0.05",
                       f"{gap:+.1f} points, p = {'n/a' if p is None else f'{p:.3g}'}",
                       gap >= 10 and p is not None and p < 0.05))
        hd = {entry["method"]: entry["hd95_mm"][0] for entry in subset["summary"]}
        checks.append((f"real cases: spd HD95 ≤ half of {YARDSTICK}'s",
                       f"{hd['spd']:.1f} mm vs {hd[YARDSTICK]:.1f} mm", hd["spd"] <= 0.5 * hd[YARDSTICK]))
        runs = [r for r in report["rows"] if r["method"] == "spd" and r["case"] in real]
        empty = [r for r in runs if not np.isfinite(r["hd95_mm"])]
        checks.append(("no spd run on a real case ends with an empty segment", f"{len(empty)} of {len(runs)} empty",
                       not empty))
    if "spd" in dsc and YARDSTICK in dsc and generated:
        subset = subset_report(report, list(generated))
        gap, p = _gap(subset, "spd", YARDSTICK)
        spd_dsc = {entry["method"]: entry["dsc"][0] * 100 for entry in subset["summary"]}["spd"]
        checks.append(("generated volumes: spd ≥ 46.5 DSC", f"{spd_dsc:.1f}", spd_dsc >= 46.5))
        checks.append((f"generated volumes: spd ≥ {YARDSTICK} + 20 DSC points, p < 0.05",
                       f"{gap:+.1f} points, p = {'n/a' if p is None else f'{p:.3g}'}",
                       gap >= 20 and p is not None and p < 0.05))
    sets = [("real cases: ", real), ("generated volumes: ", generated)] if (real or generated) else [("", None)]
    for prefix, cases in sets:
        subset = report if cases is None else subset_report(report, list(cases))
        loss = _robustness_loss(subset, "spd")
        if loss is not None:
            first, last, (k0, k1) = loss
            checks.append((f"{prefix}spd loses ≤ 5 DSC points from {k0} to {k1} random points",
                           f"{first:.1f} → {last:.1f} ({last - first:+.1f})", first - last <= 5))
    return checks


def route_table(report: dict) -> str:
    """Which prior checked the prompts, per method: the share of its runs on each route."""
    rows = [r for r in report["rows"] if "route" in r]
    if not rows:
        return ""
    routes = ("learned", "continuity", "raw")
    lines = ["| method | " + " | ".join(routes) + " |", "|---|" + "---|" * len(routes)]
    for entry in report["summary"]:
        mine = [r["route"] for r in rows if r["method"] == entry["method"]]
        if mine:
            lines.append(f"| {entry['method']} | " + " | ".join(f"{100 * mine.count(route) / len(mine):.0f} %"
                                                               for route in routes) + " |")
    return "\n".join(lines) + "\n"


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
    """An ``evaluation.json`` back as :func:`evaluate` returned it (JSON turned the counts K into strings and
    undefined values into null)."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))

    def pair(values):
        return tuple(float("nan") if v is None else v for v in values)

    for entry in report.get("robustness", []):
        entry["dsc_by_count"] = {int(k): pair(v) for k, v in entry["dsc_by_count"].items()}
    for entry in report["summary"]:
        for key in ("dsc", "iou", "hd95_mm", "assd_mm"):
            entry[key] = pair(entry[key])
    for row in report["rows"]:
        for key in ("dsc", "iou", "hd95_mm", "assd_mm"):
            row[key] = float("nan") if row[key] is None else row[key]
    return report


def write_report(report: dict, out_dir: str | Path, force: bool = False) -> tuple[Path, Path]:
    """``evaluation.json``, ``evaluation.md`` and, when matplotlib is installed, a PNG per table, written as one
    set (an existing file is replaced only with ``force``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "evaluation.json", out_dir / "evaluation.md"
    plots = [(plot_report, "evaluation.png"), (plot_cases, "evaluation_cases.png")]
    if report.get("robustness"):
        plots.append((plot_robustness, "evaluation_robustness.png"))
    with output_set(force) as files:
        files.add(json_path).write_text(json_text(report, indent=1), encoding="utf-8")
        files.add(md_path).write_text(markdown_report(report), encoding="utf-8")
        try:
            for plot, name in plots:
                plot(report, files.add(out_dir / name))
        except ImportError:
            log.info("matplotlib is not installed; no evaluation plots")
    return json_path, md_path
