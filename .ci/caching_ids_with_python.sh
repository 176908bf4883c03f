#!/usr/bin/env bash
# Checks that the caching CMM's cache entry identifier vectors (src/cmm/testdata/
# caching_entry_ids.json, which the Rust unit test `entry_ids_match_the_python_esdk` reproduces
# byte for byte) are still what the Python reference ESDK's own cache-key functions compute.
#
#     bash .ci/caching_ids_with_python.sh     # prints "N cache entry identifiers match ..."
#
# Needs ../shared/peers/setup.sh (the Python ESDK venv) beside the repository.
# The hierarchical keyring's branch key cache identifiers are checked against the Python MPL by
# tests/cache_types.rs (cache_identifiers_match_the_python_mpl, .ci/hierarchy_cache_ids_with_python.py).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${ESDK_SHARED:-$(pwd)/../shared}
PY=$(bash "$shared/peers/setup.sh")
"$PY" src/cmm/testdata/caching_entry_ids.py --check src/cmm/testdata/caching_entry_ids.json
