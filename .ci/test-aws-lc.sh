#!/usr/bin/env bash
# Runs the test suite and the test vectors with the aws-lc-rs crypto backend (cargo feature
# `aws-lc`, which makes esdk::crypto::default_provider() return aws-lc-rs), then checks that what
# this backend encrypts decrypts with the Python reference SDK. .ci/test.sh covers the default
# (RustCrypto) backend; CI runs both.
#
# Needs what .ci/test.sh needs (../shared beside the repository, Python 3 with venv) and a C
# compiler: aws-lc-sys compiles AWS-LC with `cc` (no cmake, no bindgen, no Go; about one
# CPU-minute per profile, cached in ./target afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${ESDK_SHARED:-$root/../shared}
export ESDK_VECTORS=${ESDK_VECTORS:-$shared/vectors}

step() { printf '\n=== %s ===\n' "$*"; }

step "cargo clippy -p esdk --all-targets --features aws-lc,hierarchy,tower -- -D warnings"
cargo clippy -p esdk --all-targets --features aws-lc,hierarchy,tower -- -D warnings

PY=$(bash "$shared/peers/setup.sh")
export ESDK_PEERS_PYTHON=$PY

# The tests that reach the crypto provider's every primitive: its unit tests (src/crypto), the
# known-answer and byte-exact tests (core), every suite under attack (hostile), raw and KMS RSA
# and ECDH (kms_asymmetric), parallel frame batches (parallel). The exhaustive campaigns
# (tests/io, mutation, load) exercise the drivers, not the provider, and run once in test.sh; the
# release runner below takes every test vector through this backend.
step "cargo test -p esdk --features aws-lc, with local AWS KMS servers (moto) running"
bash .ci/kms.sh run -- cargo test -p esdk --features aws-lc,hierarchy,tower --lib \
  --test core --test hostile --test kms_asymmetric --test parallel --test secrets

step "test vectors, aws-lc backend"
cargo build --release -p esdk-test-vectors --features esdk/aws-lc --bin esdk-vectors
for dir in "$ESDK_VECTORS"/*/; do
  [ -f "$dir/manifest.json" ] || continue
  printf '%s: ' "$(basename "$dir")"
  ./target/release/esdk-vectors decrypt "$dir" | tail -1
done

step "interop: esdk (aws-lc) encrypts, esdk and the Python reference decrypt"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
./target/release/esdk-vectors encrypt "$out/set" | tail -1
./target/release/esdk-vectors decrypt "$out/set" | tail -1
./target/release/esdk-vectors decrypt "$out/set" --manifest manifest-required-ec.json | tail -1
"$PY" .ci/required_ec_with_python.py "$out/set" | tail -3
"$PY" "$shared/peers/decrypt_with_python.py" "$out/set" -q
