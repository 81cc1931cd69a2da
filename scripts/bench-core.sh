#!/usr/bin/env bash
# The core's turn benchmark, reported as ratios against a bare serde_json parse of the same
# webhook measured in the same run. Figures go to docs/benchmarks.md.
#   ./scripts/bench-core.sh            (about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p concierge-core --bench turn -- --warm-up-time 2 --measurement-time "${BENCH_SECONDS:-8}" >/dev/null
python3 - <<'PY'
import json, pathlib
base = pathlib.Path("target/criterion/whatsapp_turn")
def mean(name):
    est = json.loads((base / name / "new" / "estimates.json").read_text())
    return est["median"]["point_estimate"] / 1000.0  # ns -> µs
bare = mean("bare_serde_json_parse")
print(f"{'benchmark':40} {'median':>10} {'× bare parse':>14}")
for name, goal in [("bare_serde_json_parse", None), ("turn_canned_rule", 5), ("turn_prompt_rule_scripted_model", 10)]:
    t = mean(name)
    ratio = t / bare
    verdict = "" if goal is None else ("  (goal ≤ %d×: %s)" % (goal, "met" if ratio <= goal else "MISSED"))
    print(f"{name:40} {t:9.2f}µs {ratio:13.2f}×{verdict}")
PY
