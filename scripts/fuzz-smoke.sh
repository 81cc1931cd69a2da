#!/usr/bin/env bash
# Runs every fuzz target briefly (default 20 s each) when a nightly toolchain is present,
# starting from its checked-in seeds (fuzz/seeds/<target>, see scripts/fuzz-seeds.sh).
#
#   scripts/fuzz-smoke.sh [seconds]        seconds per target (or FUZZ_SECONDS; default 20)
#   FUZZ_TARGETS="email whatsapp" ...      only these targets (default: all)
#   FUZZ_SECONDS=600 scripts/fuzz-smoke.sh the long run of docs/benchmarks.md
#
# Each target fuzzes a scratch copy of its seeds in fuzz/corpus/<target> (gitignored; what a
# run adds there stays for the next run). Builds once with -O: the release profile of
# fuzz/Cargo.toml keeps debug assertions and overflow checks on in our code but not in
# mail-parser (cargo-fuzz without -O forces them on everywhere through RUSTFLAGS).
# cargo-fuzz is installed into $CONCIERGE_TOOLS_DIR (default ~/.cache/concierge-tools) when
# missing. Exits non-zero when any target crashes; crashes land in fuzz/artifacts/<target>/,
# logs in fuzz/target/fuzz-smoke/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-20}}
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz smoke skipped: no nightly toolchain (rustup toolchain install nightly to enable)"
  exit 0
fi
tools="${CONCIERGE_TOOLS_DIR:-$HOME/.cache/concierge-tools}"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
  echo "installing cargo-fuzz into $tools"
  cargo install --quiet --root "$tools" cargo-fuzz
fi
export PATH="$tools/bin:$PATH"
cd fuzz
all=$(cargo +nightly fuzz list)
targets=${FUZZ_TARGETS:-$all}
for t in $targets; do
  if ! grep -qx "$t" <<<"$all"; then
    echo "fuzz smoke: unknown target \`$t\` (targets: $(paste -sd " " <<<"$all"))" >&2
    exit 2
  fi
done
logs=target/fuzz-smoke # per checkout, so concurrent runs of other checkouts do not clash
mkdir -p "$logs"
# Build once (`run -O` below reuses the build).
if [ -n "${FUZZ_TARGETS:-}" ]; then
  for t in $targets; do cargo +nightly fuzz build -O "$t"; done
else
  cargo +nightly fuzz build -O
fi
count_files() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
failed=0
printf '%-20s %7s %12s %9s %8s  %s\n' target seconds execs execs/s crashes corpus
for t in $targets; do
  corpus="corpus/$t"
  mkdir -p "$corpus"
  if [ -d "seeds/$t" ]; then cp "seeds/$t"/* "$corpus"/; fi
  log="$logs/$t.log"
  before=$(count_files "artifacts/$t")
  status=0
  cargo +nightly fuzz run -O "$t" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  [ -n "$execs" ] || execs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -1 || true)
  rate=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  crashes=$(($(count_files "artifacts/$t") - before))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  size="$(count_files "$corpus") files, $(( $(du -sb "$corpus" | cut -f1) / 1024 )) KiB"
  printf '%-20s %7s %12s %9s %8s  %s\n' "$t" "$seconds" "${execs:-?}" "${rate:-?}" "$crashes" "$size"
  if [ "$status" -ne 0 ]; then
    echo "fuzz $t: FAILED (exit $status; log fuzz/$log; reproduce: cd fuzz && cargo +nightly fuzz run -O $t <artifact>)"
    grep -m1 -A3 'panicked at' "$log" || true
    tail -25 "$log"
    failed=1
  fi
done
exit $failed
