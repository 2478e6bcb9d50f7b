"""The evaluation summary, its Wilcoxon p-values, robustness curve, target checks, tables and plots."""

import json

import numpy as np
import pytest

from SPDSegmentLib.training.evaluate import parse_protocol, robustness_summary, summarise
from SPDSegmentLib.training.report import target_checks, write_report


def rows_for(method, values, protocol="noise"):
    return [{"method": method, "case": f"c{i % 3}", "protocol": protocol, "seed": i // 3, "dsc": v, "iou": v / 2,
             "hd95_mm": 10.0, "assd_mm": 2.0, "slices": []} for i, v in enumerate(values)]


def test_protocol_names():
    assert parse_protocol("noise") == ("noise", (2, 5))
    assert parse_protocol("random:7") == ("noise", (7, 7))
    with pytest.raises(ValueError, match="random:K"):
        parse_protocol("random:x")


def test_summary_report_tables_targets_and_plots(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random(12) * 0.5
    rows = rows_for("frozen-boxes", base) + rows_for("sam_tuning", base + 0.05) + rows_for("spd", base + 0.25)
    robust = rows_for("spd", base + 0.35, "random:2") + rows_for("spd", base + 0.25, "random:10")
    names = ["frozen-boxes", "sam_tuning", "spd"]
    summary = summarise(rows, names, "spd")
    assert abs(summary[2]["dsc"][0] - summary[0]["dsc"][0] - 0.25) < 1e-9
    assert summary[0]["p_dsc_vs_reference"] < 0.01 and summary[2]["p_dsc_vs_reference"] is None
    robustness = robustness_summary(rows + robust, names, (2, 10))
    assert abs(robustness[2]["dsc_by_count"][2][0] - robustness[2]["dsc_by_count"][10][0] - 0.1) < 1e-9
    report = {"rows": rows + robust, "summary": summary, "reference": "spd", "cases": ["c0", "c1", "c2"],
              "protocols": ["noise"], "seeds": [0, 1, 2, 3], "robustness": robustness}
    checks = {target: met for target, _, met in target_checks(report)}
    assert checks["every ablation step adds DSC"]
    assert checks["spd ≥ sam_tuning + 10 DSC points, p < 0.05"]          # +20 points, p < 0.01
    assert checks["spd ≥ frozen-boxes + 20 DSC points, p < 0.05"]
    assert not checks["spd loses ≤ 5 DSC points from 2 to 10 random points"]  # it loses 10
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text(encoding="utf-8"))["reference"] == "spd"
    text = md_path.read_text(encoding="utf-8")
    assert "| spd |" in text and "| frozen-boxes |" in text and "—" in text
    assert "K = 10" in text and "| **no** |" in text
    for name in ("evaluation.png", "evaluation_cases.png", "evaluation_robustness.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_subset_report_is_summarised_and_tested_on_its_cases_only():
    from SPDSegmentLib.training.evaluate import subset_report

    rng = np.random.default_rng(1)
    base = rng.random(12) * 0.5
    # spd is far ahead on c0 and c1, far behind on c2
    spd = np.where(np.arange(12) % 3 == 2, base - 0.3, base + 0.3)
    rows = rows_for("sam_tuning", base) + rows_for("spd", spd)
    names = ["sam_tuning", "spd"]
    report = {"rows": rows, "summary": summarise(rows, names, "spd"), "reference": "spd",
              "cases": ["c0", "c1", "c2"], "protocols": ["noise"], "seeds": [0, 1, 2, 3], "robustness": []}
    subset = subset_report(report, ["c0", "c1"])
    assert subset["cases"] == ["c0", "c1"] and all(r["case"] != "c2" for r in subset["rows"])
    assert abs(subset["summary"][1]["dsc"][0] - subset["summary"][0]["dsc"][0] - 0.3) < 1e-9
    assert subset["summary"][0]["p_dsc_vs_reference"] < 0.01


def test_results_page_leads_with_real_cases_and_checks_the_real_scan_targets(tmp_path):
    from SPDSegmentLib.tools.results_page import results_page

    rng = np.random.default_rng(2)
    base = rng.random(24) * 0.5 + 0.1  # 8 runs a case: enough pairs for a Wilcoxon p < 0.05 on one case

    def rows(method, values, protocol="noise", hd=10.0):
        out = rows_for(method, values, protocol)
        for row in out:
            row["case"] = ("real-a", "real-b", "synthetic-c")[int(row["case"][1])]
            row["hd95_mm"], row["route"] = hd, "continuity" if method == "spd" else "raw"
        return out

    # spd: +12 points on the real cases, +25 on the generated one; half the HD95; loses 3 points to K = 10
    spd = base + np.where(np.arange(24) % 3 == 2, 0.25, 0.12)
    main = rows("frozen-boxes", base, hd=40.0) + rows("spd", spd, hd=15.0)
    robust = rows("spd", spd, "random:2") + rows("spd", spd - 0.03, "random:10")
    names = ["frozen-boxes", "spd"]
    report = {"rows": main + robust, "summary": summarise(main, names, "spd"), "reference": "spd",
              "cases": ["real-a", "real-b", "synthetic-c"], "protocols": ["noise"], "seeds": list(range(8)),
              "robustness": robustness_summary(main + robust, names, (2, 10))}
    checks = {target: met for target, _, met in target_checks(report, ["real-a", "real-b"], ["synthetic-c"])}
    assert checks["every real case: spd ≥ frozen-boxes − 2 DSC points"]
    assert checks["real cases: spd ≥ frozen-boxes + 10 DSC points, p < 0.05"]
    assert checks["real cases: spd HD95 ≤ half of frozen-boxes's"]
    assert checks["no spd run on a real case ends with an empty segment"]
    assert checks["generated volumes: spd ≥ frozen-boxes + 20 DSC points, p < 0.05"]
    assert checks["real cases: spd loses ≤ 5 DSC points from 2 to 10 random points"]
    report["rows"][len(base)]["hd95_mm"] = float("nan")  # one spd run on real-a came out empty
    assert not {t: m for t, _, m in target_checks(report, ["real-a", "real-b"], [])}[
        "no spd run on a real case ends with an empty segment"]
    report["rows"][len(base)]["hd95_mm"] = 23.0  # real-a's spd HD95: (7 x 15 + 23) / 8 = 16 mm
    eval_dir, docs = tmp_path / "eval", tmp_path / "docs"
    docs.mkdir()
    write_report(report, eval_dir)
    page = results_page(eval_dir, docs, "## Notes\nhand-written", "12 s", "real-", "synthetic-").read_text(encoding="utf-8")
    assert page.index("## Real cases") < page.index("## Generated volumes") < page.index("## All cases")
    assert "Cases: real-a, real-b." in page and "| spd | 0 % | 100 % | 0 % |" in page
    real_part = page[page.index("## Real cases"):page.index("## Generated volumes")]
    assert "| frozen-boxes | 40.0 | 40.0 |" in real_part and "| spd | 16.0 | 15.0 |" in real_part
    assert "K = 10" in page and "hand-written" in page and "12 s" in page and "Targets met:" in page
    assert {p.name for p in docs.iterdir()} >= {"RESULTS.md", "results.png", "results_cases.png",
                                                 "results_robustness.png"}


def test_evaluate_gives_each_method_and_case_what_it_gives_alone_and_lists_rows_method_by_method(mr_crop, ct_crop):
    """Methods share embeddings, and so do cases on one image (here the MR crop, before and after the CT): sharing
    and dropping an image's embeddings after its last case change no mask."""
    from SPDSegmentLib.inference.model import build_model
    from SPDSegmentLib.inference.options import InferenceOptions
    from SPDSegmentLib.training.dataset import CaseSpec
    from SPDSegmentLib.training.evaluate import Method, evaluate

    specs = [CaseSpec(*mr_crop, name="mr"), CaseSpec(*ct_crop, name="ct"), CaseSpec(*mr_crop, name="mr-again")]
    boxes = InferenceOptions(prior="raw", prompt_mode="boxes")
    methods = [Method("frozen-boxes", lambda: build_model("frozen"), boxes),
               Method("spd", lambda: build_model("default"))]
    together = evaluate(specs, methods, protocols=("noise",), seeds=(0,), device="cpu")
    assert [(r["method"], r["case"]) for r in together["rows"]] == [
        (m, c) for m in ("frozen-boxes", "spd") for c in ("mr", "ct", "mr-again")]
    for method in methods:
        for spec in specs:
            alone = evaluate([spec], [method], protocols=("noise",), seeds=(0,), device="cpu")["rows"][0]
            row = next(r for r in together["rows"] if r["method"] == method.name and r["case"] == spec.name)
            assert row["dsc"] == pytest.approx(alone["dsc"], abs=1e-9) and row["route"] == alone["route"]
    assert together["rows"][3]["dsc"] == pytest.approx(together["rows"][5]["dsc"], abs=1e-9)  # the same case twice
