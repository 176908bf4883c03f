#!/usr/bin/env bash
# Lints and tests the library with the aws-lc-rs crypto backend (cargo feature `aws-lc`, which
# makes esdk::crypto::default_provider() return aws-lc-rs). .ci/test.sh covers the default
# (RustCrypto) backend, and runs every test vector and the interop checks through
# debug `esdk-vectors` and `esdk` built with aws-lc (the tool's default backend).
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

# The tests that reach the crypto provider's every primitive: its unit tests (src/crypto), the
# known-answer and byte-exact tests (core), every suite under attack (hostile), raw and KMS RSA
# and ECDH (kms_asymmetric), parallel frame batches (parallel). The exhaustive campaigns
# (tests/io, mutation, load) exercise the drivers, not the provider, and run once in test.sh; the
# aws-lc runner of test.sh takes every test vector through this backend.
step "cargo test -p esdk --features aws-lc, with local AWS KMS servers (moto) running"
bash .ci/kms.sh run -- cargo test -p esdk --features aws-lc,hierarchy,tower --lib \
  --test core --test hostile --test kms_asymmetric --test parallel --test secrets
