#!/usr/bin/env bash
# The quick tier: formatting, lints, unit tests and the offline test vectors. No services, no
# Python SDK or Node (python3's standard library only, for the module-cycle check); a few
# minutes on a warm build. The full tier is .ci/test.sh (what CI runs).
#
#     bash .ci/quick.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export ESDK_VECTORS=${ESDK_VECTORS:-$(pwd)/../shared/vectors}
started=$SECONDS
step() { printf '\n=== %s (at %d s) ===\n' "$*" $((SECONDS - started)); }

step "no import cycles between top-level modules (.ci/module_cycles.py, no build)"
python3 .ci/module_cycles.py
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
step "unit tests (cargo test -p esdk --lib)"
cargo test -p esdk --lib -q
step "offline test vectors and core tests (esdk-vectors over every folder; core tests)"
cargo test -p esdk-test-vectors --test vectors -q && cargo test -p esdk --test core -q
printf '\nquick tier passed in %d s\n' $((SECONDS - started))
