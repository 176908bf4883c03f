#!/usr/bin/env bash
# Fuzzes esdk for a bounded time: each cargo-fuzz (libFuzzer) target of tests/fuzz runs for
# FUZZ_SECONDS (default 60) on a copy of its committed seed corpus (tests/fuzz/corpus/<target>,
# made by `cargo test --test fuzz_corpus -- --ignored`), so the committed corpus never changes.
# Prints libFuzzer's final stats line and executions per target; fails on any crash, leak,
# timeout or assertion (the input that did it is kept under tests/fuzz/artifacts/<target>/).
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated; default all four).
# Needs the stable toolchain only: cargo-fuzz passes -Z flags (sanitizer, coverage), which the
# stable compiler accepts under RUSTC_BOOTSTRAP=1. cargo-fuzz is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-header decrypt stream_splits round_trip}
export RUSTC_BOOTSTRAP=1

# Installs cargo-fuzz when missing and builds the targets (nothing to do when .ci/test.sh's
# background build already did).
bash .ci/fuzz-build.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
summary=()
for t in $targets; do
  printf '\n=== fuzz %s for %s s ===\n' "$t" "$secs"
  cp -r "tests/fuzz/corpus/$t" "$work/$t"
  log="$work/$t.log"
  if cargo fuzz run --fuzz-dir tests/fuzz "$t" "$work/$t" -- \
      -max_total_time="$secs" -timeout=25 -print_final_stats=1 >"$log" 2>&1; then
    # libFuzzer's last status line, e.g. "#183211 DONE cov: 2650 ft: 9313 corp: 612/201Kb ..."
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    summary+=("$t: ${runs:-?} executions in ${secs} s, no crash")
  else
    tail -n 80 "$log"
    failed+=("$t")
    summary+=("$t: FAILED (input kept under tests/fuzz/artifacts/$t/)")
  fi
done
printf '\n=== fuzz summary ===\n'
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
