#!/usr/bin/env bash
# Peak-memory check of the streaming adapters (esdk::io): 1 GiB (or $ESDK_MEMORY_BENCH_MIB MiB)
# through each adapter, each in its own process, peak RSS against 2 frames + 8 MiB. Linux only;
# the verified-mode case writes as much to a temporary file. Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export ESDK_MEMORY_BENCH_MIB=${ESDK_MEMORY_BENCH_MIB:-1024}
cargo bench --bench memory
