#!/usr/bin/env bash
# The esdk CLI side by side with the official `aws-encryption-cli` 4.3.0 (Python, PyPI), run on
# demand (not by CI), both through the same local AWS KMS key (moto, started by .ci/kms.sh).
#
#   benches/compare/cli.sh [--mib 256] [--files 10000] [--file-bytes 1024]
#
#   ESDK=path/to/esdk      the esdk binary (default: built with `cargo build --release --bin
#                          esdk` into $CARGO_TARGET_DIR, default target/)
#   ESDK_OFFICIAL_CLI_VENV the official CLI's venv (default /tmp/esdk-cli-venv; installed when
#                          missing, as .ci/official_cli.sh does)
#
# Workloads, each run once per tool on the same input: encrypt and decrypt of one MIB-MiB file
# of random bytes, unsigned 0x0478 with 64 KiB frames and the signed default (0x0578, 4 KiB
# frames); encrypt and decrypt of a folder of FILES files of FILE-BYTES bytes each (`-r`, the
# default suite). Each tool decrypts what it encrypted. Per process: CPU seconds (user + system,
# all threads, from `/usr/bin/time`) and peak RSS. Then ONE table of ratios: the speed ratio is
# official CPU-s ÷ esdk CPU-s (how many times faster esdk is per CPU-second). KMS round trips go
# to a local server, so their cost on the server side counts for neither tool.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mib=256 files=10000 file_bytes=1024
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) mib=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --file-bytes) file_bytes=$2; shift 2 ;;
    *) echo "usage: $0 [--mib N] [--files N] [--file-bytes N]" >&2; exit 2 ;;
  esac
done

if [ -z "${ESDK_KMS_ENDPOINT:-}" ]; then
  exec bash "$root/.ci/kms.sh" run -- bash "$0" --mib "$mib" --files "$files" --file-bytes "$file_bytes"
fi
if [ -z "${ESDK:-}" ]; then
  echo "building esdk (release)..." >&2
  (cd "$root" && nice cargo build --release --quiet --bin esdk)
  ESDK=${CARGO_TARGET_DIR:-$root/target}/release/esdk
fi
venv=${ESDK_OFFICIAL_CLI_VENV:-/tmp/esdk-cli-venv}
if [ ! -x "$venv/bin/aws-encryption-cli" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'aws-encryption-sdk-cli==4.3.0'
fi
official=$venv/bin/aws-encryption-cli
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-west-2
export AWS_ENDPOINT_URL=$ESDK_KMS_ENDPOINT
arn=$("$venv/bin/python" -c '
import boto3
print(boto3.client("kms").create_key(Description="esdk CLI side by side")["KeyMetadata"]["Arn"])')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "input: $mib MiB file, $files files of $file_bytes bytes (in $work)" >&2
head -c "$((mib * 1024 * 1024))" /dev/urandom > "$work/big"
mkdir "$work/small"
python3 - "$work/small" "$files" "$file_bytes" <<'PY'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(size))
PY

# measure NAME CMD...: runs CMD once under /usr/bin/time, records "NAME cpu_seconds peak_kib".
measure() {
  local name=$1
  shift
  sync
  if ! /usr/bin/time -f '%U %S %M' -o "$work/time" "$@" >/dev/null 2>"$work/err"; then
    echo "FAILED: $name: $*" >&2
    tail -5 "$work/err" >&2
    exit 1
  fi
  awk -v n="$name" '{ printf "%s %.3f %d\n", n, $1 + $2, $3 }' "$work/time" >> "$work/results"
  echo "  $(tail -1 "$work/results")" >&2
}

esdk_args=(-w "key=kms:$arn" --kms-endpoint "$ESDK_KMS_ENDPOINT" -c purpose=bench)
official_args=(-S -w "key=$arn" -c purpose=bench)
: > "$work/results"
for spec in "unsigned 0x0478 AES_256_GCM_HKDF_SHA512_COMMIT_KEY 65536" \
            "signed 0x0578 AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 4096"; do
  read -r label hex name frame <<<"$spec"
  echo "$label ($hex, $frame-byte frames):" >&2
  measure "esdk-enc-$label" "$ESDK" encrypt "${esdk_args[@]}" --algorithm "$hex" \
    --frame-length "$frame" -i "$work/big" -o "$work/big.esdk.ct"
  measure "esdk-dec-$label" "$ESDK" decrypt "${esdk_args[@]}" \
    -i "$work/big.esdk.ct" -o "$work/big.esdk.pt"
  cmp "$work/big" "$work/big.esdk.pt"
  measure "official-enc-$label" "$official" -e "${official_args[@]}" --algorithm "$name" \
    --frame-length "$frame" -i "$work/big" -o "$work/big.off.ct"
  measure "official-dec-$label" "$official" -d "${official_args[@]}" \
    -i "$work/big.off.ct" -o "$work/big.off.pt"
  cmp "$work/big" "$work/big.off.pt"
  rm -f "$work"/big.*
done
echo "$files small files (default suite):" >&2
mkdir "$work/se" "$work/sd" "$work/oe" "$work/od"
measure esdk-enc-small "$ESDK" encrypt "${esdk_args[@]}" -r -i "$work/small" -o "$work/se"
measure esdk-dec-small "$ESDK" decrypt "${esdk_args[@]}" -r -i "$work/se" -o "$work/sd"
measure official-enc-small "$official" -e "${official_args[@]}" -r -i "$work/small" -o "$work/oe"
measure official-dec-small "$official" -d "${official_args[@]}" -r -i "$work/oe" -o "$work/od"
[ "$(ls "$work/sd" | wc -l)" = "$files" ] && [ "$(ls "$work/od" | wc -l)" = "$files" ]

python3 - "$work/results" "$mib" "$files" "$file_bytes" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, cpu, kib = line.split()
    rows[name] = (float(cpu), int(kib))
mib, files, size = sys.argv[2], sys.argv[3], sys.argv[4]
work = {
    "unsigned": f"{mib} MiB, 0x0478, 64 KiB frames",
    "signed": f"{mib} MiB, default 0x0578, 4 KiB frames",
    "small": f"{files} x {size} B files, default suite",
}
goals = {"unsigned": 5.0, "signed": 3.0, "small": 3.0}
print(f"| workload | op | esdk CPU-s | official CPU-s | esdk ÷ official (speed) | esdk peak RSS MiB | official peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for key in ("unsigned", "signed", "small"):
    tot_e = tot_o = 0.0
    for op in ("enc", "dec"):
        e, ek = rows[f"esdk-{op}-{key}"]
        o, ok = rows[f"official-{op}-{key}"]
        tot_e += e
        tot_o += o
        print(f"| {work[key]} | {op}rypt | {e:.2f} | {o:.2f} | {o / e:.2f}x | {ek / 1024:.1f} | {ok / 1024:.1f} |")
    met = "met" if tot_o / tot_e >= goals[key] else "missed"
    print(f"| {work[key]} | **both** | {tot_e:.2f} | {tot_o:.2f} | **{tot_o / tot_e:.2f}x** (goal {goals[key]:.0f}x: {met}) | | |")
PY
