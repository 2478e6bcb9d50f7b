#!/usr/bin/env bash
# Mutation testing (`make mutants`): cosmic-ray plants one small change at a time in the modules where a
# silent bug misplaces a segmentation, runs the tests that cover that module, and records whether a test
# failed (killed) or not (survived). Not part of `make test` (hours of CPU); run it after changing one of these
# modules or their tests, and record the score and each survivor in docs/TESTING.md.
# Usage: docs/mutation_testing.sh [OUT_DIR] [MODULE ...]   (default: every module below)
set -uo pipefail
OUT=${1:-runs/mutants}
shift || true
PY=${PY:-.venv/bin/python}
LIB=SPDSegment/SPDSegmentLib
declare -A TESTS=(
  [inference/volume.py]="Testing/test_geometry.py Testing/test_known_answers.py -k not_predictor"
  [inference/slices.py]="Testing/test_geometry.py Testing/test_known_answers.py"
  [inference/prompts.py]="Testing/test_prompts.py Testing/test_geometry.py Testing/test_known_answers.py Testing/test_cpd.py"
  [inference/cpd.py]="Testing/test_cpd.py Testing/test_continuity_prior.py Testing/test_known_answers.py::test_cpd_borrows_onto_n_slices_on_each_side_and_stops_at_the_volume_ends Testing/test_known_answers.py::test_cpd_in_the_predictor_on_a_hand_made_saliency_keeps_and_rejects_the_known_points"
  [inference/continuity_prior.py]="Testing/test_continuity_prior.py Testing/test_real_scan_routes.py::test_clicks_that_hop_off_the_structure_every_third_slice_pass_the_wider_check_and_beat_plain_boxes"
  [inference/prior_choice.py]="Testing/test_continuity_prior.py"
  [inference/box_fitting.py]="Testing/test_box_fitting.py Testing/test_continuity_prior.py"
  [inference/metrics.py]="Testing/test_metrics_losses.py Testing/test_known_answers.py::test_metrics_command_hd95_and_assd_with_anisotropic_voxels"
  [training/losses.py]="Testing/test_metrics_losses.py Testing/test_known_answers.py::test_psc_on_three_slices_is_the_mean_of_its_two_pairs"
  [bridge/volumes.py]="Testing/test_bridge.py Testing/test_known_answers.py::test_parent_transforms_on_the_volume_the_curve_or_both"
  [bridge/markup_nodes.py]="Testing/test_bridge.py Testing/test_known_answers.py::test_parent_transforms_on_the_volume_the_curve_or_both"
  [bridge/segmentation.py]="Testing/test_bridge.py"
)
MODULES=("$@")
[ ${#MODULES[@]} -eq 0 ] && MODULES=("${!TESTS[@]}")
mkdir -p "$OUT"
for module in "${MODULES[@]}"; do
  name=${module//\//_}
  config="$OUT/$name.toml"
  cat > "$config" <<TOML
[cosmic-ray]
module-path = "$LIB/$module"
timeout = 300.0
excluded-modules = []
test-command = "$PY -m pytest -x -q -p no:cacheprovider ${TESTS[$module]//-k not_predictor/-k 'not predictor'}"

[cosmic-ray.distributor]
name = "local"
TOML
  "$PY" -m cosmic_ray.cli init "$config" "$OUT/$name.sqlite" --force
  "$PY" -m cosmic_ray.cli exec "$config" "$OUT/$name.sqlite"
  git checkout -- "$LIB/$module"  # cosmic-ray restores each file; make sure no mutant is left behind
  echo "== $module: $("$PY" -m cosmic_ray.tools.survival_rate "$OUT/$name.sqlite")% survived"
done
