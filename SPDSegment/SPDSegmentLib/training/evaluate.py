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
    predictors = []
    for method in methods:
        options = replace(method.options, device=device)
        predictor = SpdPredictor(method.build(), options)
        predictors.append((method, options, predictor, predictor.encoder_key()))
    # methods with the same encoder (e.g. every rank-0 adapter on one backbone) share its embeddings, and so do cases
    # on one image (several labels of one scan); an image's embeddings are dropped after its last case
    images = [str(Path(case.spec.image).resolve()) for case in cases]
    shared: dict[tuple[str, str, int], dict] = {}
    for case_index, case in enumerate(cases):
        for method, options, predictor, encoder_key in predictors:
            predictor.set_volume(case.volume, case.axis,
                                 shared.setdefault((encoder_key, images[case_index], case.axis), {}))
            for protocol in all_protocols:
                for seed in seeds:
                    result = predictor.predict(prompts[case_index, protocol, seed], options)
                    metrics = volume_and_slice_metrics(result.mask_kji, case.mask_kji, case.volume.spacing, case.axis)
                    rows.append({"method": method.name, "case": case.spec.name, "protocol": protocol, "seed": seed,
                                 "route": result.prior.route, **metrics["volume"], "slices": metrics["slices"]})
                    log.info("%s %s %s seed %d: DSC %.3f", method.name, case.spec.name, protocol, seed,
                             metrics["volume"]["dsc"])
        if images[case_index] not in images[case_index + 1:]:
            shared = {key: value for key, value in shared.items() if key[1] != images[case_index]}
    order = {method.name: index for index, method in enumerate(methods)}
    rows.sort(key=lambda row: order[row["method"]])  # method by method, as the report lists them
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


def case_summary(report: dict, key: str = "dsc") -> dict[str, dict[str, float]]:
    """Mean of ``key`` (dsc, iou, hd95_mm, assd_mm) of each method on each case over the main protocols and seeds;
    runs without the value (distances of an empty mask) are left out, NaN if no run has it."""
    table: dict[str, dict[str, float]] = {}
    for entry in report["summary"]:
        name = entry["method"]
        table[name] = {case: mean_sd([r[key] for r in report["rows"] if r["method"] == name and r["case"] == case
                                      and r["protocol"] in report["protocols"]])[0]
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
