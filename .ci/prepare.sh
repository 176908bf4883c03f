#!/usr/bin/env bash
# What .ci/test.sh installs besides the Rust build, run in the background while it compiles
# (downloads and unpacking, little CPU): the Python reference ESDK 4.0.7 (+MPL) and 3.3.1, the
# official aws-encryption-sdk-cli 4.3.0, moto for the local KMS servers, and the JavaScript
# ESDK's npm packages. Writes the variables the tests read to $1 (a file to source).
# Each install is skipped when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${ESDK_SHARED:-$root/../shared}
env_out=$1

PY=$(bash "$shared/peers/setup.sh")
PY3=$(bash "$shared/peers/setup.sh" /tmp/esdk-py-3.3.1 'aws-encryption-sdk==3.3.1')
cli_venv=${ESDK_OFFICIAL_CLI_VENV:-/tmp/esdk-cli-venv}
if [ ! -x "$cli_venv/bin/aws-encryption-cli" ]; then
  python3 -m venv "$cli_venv"
  "$cli_venv/bin/python" -m pip install -q --disable-pip-version-check 'aws-encryption-sdk-cli==4.3.0'
fi
if ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd .ci/js && npm install --no-audit --no-fund --silent >/dev/null)
fi
{
  printf 'export ESDK_PEERS_PYTHON=%q\n' "$PY"
  printf 'PY=%q\n' "$PY"
  printf 'PY3=%q\n' "$PY3"
  printf 'export ESDK_OFFICIAL_CLI=%q\n' "$cli_venv/bin/aws-encryption-cli"
} >"$env_out"
