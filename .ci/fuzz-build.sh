#!/usr/bin/env bash
# Installs cargo-fuzz when missing and builds every fuzz target (tests/fuzz, a workspace with
# its own target directory, so it never waits for or disturbs the main build). .ci/test.sh runs
# it at low priority in the background from its start, on the CPU that compiling and testing
# leave idle; .ci/fuzz.sh then only runs the targets.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
cargo fuzz build --fuzz-dir tests/fuzz
