#!/usr/bin/env bash
# Interop with the official command-line tool: `aws-encryption-sdk-cli` 4.3.0 from PyPI (which
# installs the Python ESDK 3.3.1, the reader most deployed) and the `esdk` CLI read each other's
# files through a local AWS KMS server (moto), and `cmp` shows the round trips equal.
#
#   bash .ci/official_cli.sh [ESDK_BINARY]     (default target/release/esdk; builds it if absent)
#
# Sizes sit on the frame edges (0, 1, frame-1, frame, 2*frame, 3 MiB + 5), for the default suite
# (0x0578, 4 KiB frames) and for 0x0478 with 64 KiB frames. Needs Python 3 with venv; the
# official CLI is installed into $ESDK_OFFICIAL_CLI_VENV (default /tmp/esdk-cli-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
esdk=${1:-target/release/esdk}
venv=${ESDK_OFFICIAL_CLI_VENV:-/tmp/esdk-cli-venv}

if [ -z "${ESDK_KMS_ENDPOINT:-}" ]; then
  exec bash .ci/kms.sh run -- bash "$0" "$@"
fi
[ -x "$esdk" ] || cargo build --release --bin esdk
if [ ! -x "$venv/bin/aws-encryption-cli" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'aws-encryption-sdk-cli==4.3.0'
fi
official="$venv/bin/aws-encryption-cli"
"$official" --version | head -1

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-west-2
export AWS_ENDPOINT_URL=$ESDK_KMS_ENDPOINT
arn=$("$venv/bin/python" -c '
import boto3
print(boto3.client("kms").create_key(Description="esdk official CLI interop")["KeyMetadata"]["Arn"])')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
pass=0
check() { # label, expected file, actual file
  if cmp -s "$2" "$3"; then
    pass=$((pass + 1))
  else
    echo "FAIL: $1" >&2
    fails=$((fails + 1))
  fi
}

run_case() { # suite-hex official-name frame size
  local hex=$1 name=$2 frame=$3 size=$4 base="$work/$1-f$3-$4"
  head -c "$size" /dev/urandom > "$base.pt"
  # esdk writes, the official CLI reads.
  if "$esdk" encrypt -w "key=kms:$arn" --kms-endpoint "$ESDK_KMS_ENDPOINT" --algorithm "0x$hex" \
       --frame-length "$frame" -i "$base.pt" -o "$base.esdk.ct" -c purpose=interop 2>"$base.err" &&
     "$official" -d -S -w "key=$arn" -i "$base.esdk.ct" -o "$base.esdk.back" \
       -c purpose=interop 2>>"$base.err"; then
    check "$hex f$frame size $size: esdk -> official CLI" "$base.pt" "$base.esdk.back"
  else
    echo "FAIL: $hex f$frame size $size: esdk -> official CLI: $(tail -3 "$base.err")" >&2
    fails=$((fails + 1))
  fi
  # The official CLI writes, esdk reads.
  if "$official" -e -S -w "key=$arn" --algorithm "$name" --frame-length "$frame" \
       -i "$base.pt" -o "$base.off.ct" -c purpose=interop 2>"$base.err" &&
     "$esdk" decrypt -w "key=kms:$arn" --kms-endpoint "$ESDK_KMS_ENDPOINT" \
       -i "$base.off.ct" -o "$base.off.back" -c purpose=interop 2>>"$base.err"; then
    check "$hex f$frame size $size: official CLI -> esdk" "$base.pt" "$base.off.back"
  else
    echo "FAIL: $hex f$frame size $size: official CLI -> esdk: $(tail -3 "$base.err")" >&2
    fails=$((fails + 1))
  fi
}

for spec in "0578 AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 4096" \
            "0478 AES_256_GCM_HKDF_SHA512_COMMIT_KEY 65536"; do
  read -r hex name frame <<<"$spec"
  for size in 0 1 $((frame - 1)) "$frame" $((2 * frame)) $((3 * 1024 * 1024 + 5)); do
    run_case "$hex" "$name" "$frame" "$size"
  done
done
echo "official CLI interop: $pass passed, $fails failed"
[ "$fails" -eq 0 ]
