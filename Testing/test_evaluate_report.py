"""The evaluation summary, its Wilcoxon p-values, markdown table and plot, on hand-made rows."""

import json

import numpy as np

from SPDSegmentLib.engine.evaluate import summarise, write_report


def rows_for(method, values):
    return [{"method": method, "case": f"c{i}", "protocol": "noise", "seed": 0, "dsc": v, "iou": v / 2,
             "hd95_mm": 10.0, "assd_mm": 2.0, "slices": []} for i, v in enumerate(values)]


def test_summary_report_table_and_plot(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random(12) * 0.5
    rows = rows_for("frozen-boxes", base) + rows_for("spd", base + 0.2)
    summary = summarise(rows, ["frozen-boxes", "spd"], "spd")
    assert abs(summary[1]["dsc"][0] - summary[0]["dsc"][0] - 0.2) < 1e-9
    assert summary[0]["p_dsc_vs_reference"] < 0.01 and summary[1]["p_dsc_vs_reference"] is None
    report = {"rows": rows, "summary": summary, "reference": "spd"}
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["reference"] == "spd"
    table = md_path.read_text()
    assert "| spd |" in table and "| frozen-boxes |" in table and "—" in table
    assert (tmp_path / "evaluation.png").stat().st_size > 1000
