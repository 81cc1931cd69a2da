#!/usr/bin/env bash
# The knowledge base's retrieval over a synthetic 10k-passage tenant (keywords; keywords + 384-d
# vectors) as ratios against a bare cosine scan of the same vectors measured in the same run,
# and ingest throughput in chunks/s. Figures go to docs/benchmarks.md.
#   ./scripts/bench-knowledge.sh       (about two minutes after the build)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p concierge-core --bench knowledge -- --warm-up-time 2 --measurement-time "${BENCH_SECONDS:-8}" >/dev/null
target="${CARGO_TARGET_DIR:-target}"
python3 - "$target" <<'PY'
import json, pathlib, sys
base = pathlib.Path(sys.argv[1]) / "criterion"
def median(group, name):
    est = json.loads((base / group / name / "new" / "estimates.json").read_text())
    return est["median"]["point_estimate"] / 1e6  # ns -> ms
bare = median("retrieval_10k", "bare_cosine_scan")
print(f"{'benchmark (10k passages)':32} {'median':>10} {'× bare scan':>12}")
for name, goal in [("bare_cosine_scan", None), ("keywords", None), ("keywords_and_vectors", 20.0)]:
    t = median("retrieval_10k", name)
    verdict = "" if goal is None else ("  (goal p50 ≤ %g ms: %s)" % (goal, "met" if t <= goal else "MISSED"))
    print(f"{name:32} {t:8.3f}ms {t / bare:11.2f}×{verdict}")
bench = json.loads((base / "ingest" / "parse_chunk_index_markdown" / "new" / "benchmark.json").read_text())
chunks = bench["throughput"]["Elements"]
t = median("ingest", "parse_chunk_index_markdown") / 1000.0
print(f"ingest: {chunks} chunks parsed, cut and indexed in {t * 1000:.1f} ms: {chunks / t:,.0f} chunks/s")
PY
