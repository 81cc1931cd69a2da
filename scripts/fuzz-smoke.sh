#!/usr/bin/env bash
# Runs every fuzz target briefly (default 20 s each) when a nightly toolchain is present.
# cargo-fuzz is installed into $CONCIERGE_TOOLS_DIR (default ~/.cache/concierge-tools, reused when present). Long runs: see docs/channels.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
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
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -O
failed=0
for t in $targets; do
  mkdir -p "corpus/$t"
  if cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 >"/tmp/fuzz-$t.log" 2>&1; then
    runs=$(grep -Eo 'Done [0-9]+ runs' "/tmp/fuzz-$t.log" | tail -1 || true)
    echo "fuzz $t: ok (${runs:-done} in ${seconds}s)"
  else
    echo "fuzz $t: FAILED (see /tmp/fuzz-$t.log)"; tail -30 "/tmp/fuzz-$t.log"; failed=1
  fi
done
exit $failed
