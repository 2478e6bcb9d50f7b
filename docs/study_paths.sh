# Sourced by docs/make_results.sh, docs/dev_results.sh and docs/unseen_structures.sh with their two optional
# arguments and their default output folder: sets DATA (the shared TotalSegmentator folder under $1, default
# ../shared/data), OUT ($2, default $3, created), PY, SPD (overridable from the environment) and DEFAULT (the
# embedded default adapter).
DATA=$(cd "${1:-../shared/data}/totalsegmentator" && pwd)
OUT=${2:-$3}
PY=${PY:-.venv/bin/python}
SPD=${SPD:-.venv/bin/spdsegment}
DEFAULT=SPDSegment/SPDSegmentLib/models/spd_litemedsam_small_bowel.safetensors
mkdir -p "$OUT"
