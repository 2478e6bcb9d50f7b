"""The evaluation summary, its Wilcoxon p-values, robustness curve, target checks, tables and plots."""

import json

import numpy as np
import pytest

from SPDSegmentLib.engine.evaluate import parse_protocol, robustness_summary, summarise, target_checks, write_report


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
    assert json.loads(json_path.read_text())["reference"] == "spd"
    text = md_path.read_text()
    assert "| spd |" in text and "| frozen-boxes |" in text and "—" in text
    assert "K = 10" in text and "| **no** |" in text
    for name in ("evaluation.png", "evaluation_cases.png", "evaluation_robustness.png"):
        assert (tmp_path / name).stat().st_size > 1000
